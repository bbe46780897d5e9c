"""How big any one input may be: every text, list and amount a person sends is bounded here, well
under what a workflow's history and payloads can carry (2 MB a payload), and checked before any
work is done. One place, so the pages, the API and the workflow agree."""

NAME = 200  # a title line, a KPI name, a budget item
SHORT = 500  # a source of funds, a product, a unit
TEXT = 5_000  # a reason, a note, a summary, one finding
LONG = 10_000  # a comment, a description
USERNAME = 64
PASSWORD = 10  # the fewest characters of a password set through the API or the pages
PASSWORD_LONGEST = 1_000  # argon2 takes any length; a longer one is a mistake or an attack
AGENCY = 32
ITEMS = 100  # lines, findings, KPIs, coordinating agencies, KPI figures in one message
MONEY = 10**15  # đồng: far above any single task's budget, far below 64 bits
FIGURE = 1e15  # a KPI figure, either way
OFFSET = 1_000_000  # a page further than this into a list is a mistake, not a reading
ROW_ID = 2**31 - 1  # the largest row number a database column holds everywhere
NOTIFICATIONS = 200  # the alerts one page lists, newest first
