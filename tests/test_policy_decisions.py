"""The enforcer remembers its decisions (issue 14: an inbox asks the same few questions hundreds of
times) and forgets them all on any change of the policy or of anyone's roles: a remembered answer
never outlives the rule or the role it came from."""

from policies.enforcer import MODEL_PATH, Enforcer, give_roles, permits, take_roles

QUESTION = ("lan", "lead", "in_progress", "progress.report")


def _enforcer() -> Enforcer:
    return Enforcer(str(MODEL_PATH))


async def test_a_role_given_or_taken_changes_the_answer_at_once() -> None:
    enforcer = _enforcer()
    await enforcer.add_policy("agency_officer", "lead", "in_progress", "progress.report")
    assert not permits(enforcer, *QUESTION)
    await give_roles(enforcer, "lan", ["agency_officer"])
    assert permits(enforcer, *QUESTION)
    await take_roles(enforcer, "lan")
    assert not permits(enforcer, *QUESTION)


async def test_a_rule_added_or_removed_changes_the_answer_at_once() -> None:
    enforcer = _enforcer()
    await give_roles(enforcer, "lan", ["agency_officer"])
    assert not permits(enforcer, *QUESTION)
    await enforcer.add_policy("agency_officer", "lead", "*", "progress.report")
    assert permits(enforcer, *QUESTION)
    await enforcer.remove_policy("agency_officer", "lead", "*", "progress.report")
    assert not permits(enforcer, *QUESTION)
    await enforcer.add_policies([["*", "lead", "in_progress", "progress.report"]])
    assert permits(enforcer, *QUESTION)
    await enforcer.remove_filtered_policy(0, "*")
    assert not permits(enforcer, *QUESTION)


async def test_the_same_question_is_answered_from_memory() -> None:
    enforcer = _enforcer()
    await enforcer.add_policy("agency_officer", "lead", "in_progress", "progress.report")
    await give_roles(enforcer, "lan", ["agency_officer"])
    assert permits(enforcer, *QUESTION)
    remembered = dict(enforcer.__dict__["_decisions"])
    assert remembered == {("user:lan", "lead", "in_progress", "progress.report"): True}


async def test_a_decision_follows_role_links_only_for_lines_of_its_action() -> None:
    """The matcher compares the action first (policies/model.conf): a line for another action is
    passed over without asking who holds which role, the costly part of a decision (issue 14)."""
    enforcer = _enforcer()
    await enforcer.add_policies([["agency_head", "lead", "*", "task.accept"],
                                 ["finance_reviewer", "*", "*", "budget.approve"],
                                 ["agency_officer", "lead", "*", "progress.report"]])
    await give_roles(enforcer, "lan", ["agency_officer"])
    manager = enforcer.get_role_manager()
    asked: list[tuple[str, str]] = []
    following = manager.has_link
    manager.has_link = lambda name1, name2, *domain: asked.append((name1, name2)) or following(name1, name2, *domain)
    assert permits(enforcer, *QUESTION)
    assert asked == [("user:lan", "agency_officer")]
