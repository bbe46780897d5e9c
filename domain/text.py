"""Text as search compares it: "CHUYỂN ĐỔI", "chuyen doi" and "Chuyển đổi" are the same words."""

import unicodedata


def fold(text: str) -> str:
    """Lower case, without accents (đ is d): what a person typing on any keyboard means. The same on
    SQLite and PostgreSQL, since the database only compares what this wrote."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())
