"""No status string in templates/: a template asks the model (TrainingClass.is_editable,
Settlement.awaiting_review, …) or names a state by its constant (a Jinja global of
h5app/template_filters.py), so each state is spelled, and each rule on it written, in one place.

The status values are collected from the constants of h5app/models, not listed here: a new status
a model defines is covered the day it is added."""
import importlib
import pkgutil
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

import h5app.models

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def status_values() -> frozenset[str]:
    """Every status a model defines: the keys or members of each module-level constant of
    h5app/models whose name says it holds statuses or decisions (CLASS_STATUSES, ENROLMENT_STATUSES,
    LINE_DECISIONS, TASK_STATUS_LABELS, …)."""
    values = set()
    for info in pkgutil.iter_modules(h5app.models.__path__):
        module = importlib.import_module(f"h5app.models.{info.name}")
        for name, value in vars(module).items():
            if name.isupper() and ("STATUS" in name or "DECISION" in name) \
                    and isinstance(value, dict | tuple | list | set | frozenset):
                values.update(v for v in value if isinstance(v, str))
    return frozenset(values)


STATUSES = status_values()
# Parsing only: no filter or global is looked up, so a bare environment reads every template.
PARSER = Environment()


def _literals(node) -> list[str]:
    """The status strings `node` spells: a constant, or the constants of a tuple or list literal
    (not of one nested in it: `[('used', 'use_target', '用券')]` names attributes, not states)."""
    items = node.items if isinstance(node, nodes.Tuple | nodes.List) else [node]
    return [item.value for item in items
            if isinstance(item, nodes.Const) and isinstance(item.value, str) and item.value in STATUSES]


def status_literals(source: str) -> list[tuple[int, str, str]]:
    """(line, status, how) for each status literal the template compares against: either side of
    ==, !=, in, not in; the argument of a test (`is sameas`) or of selectattr/rejectattr; a loop over
    a hand-written list of states; a dict literal keyed by states (a label table)."""
    found = []
    for node in PARSER.parse(source).find_all((nodes.Compare, nodes.Test, nodes.Filter, nodes.For, nodes.Dict)):
        if isinstance(node, nodes.Compare):
            operands, how = [node.expr, *(op.expr for op in node.ops)], "compared"
        elif isinstance(node, nodes.Test | nodes.Filter):
            operands, how = list(node.args), f"passed to {node.name}"
        elif isinstance(node, nodes.For):
            operands, how = [node.iter], "looped over"
        else:
            operands, how = [pair.key for pair in node.items], "used as a key"
        found += [(node.lineno, value, how) for operand in operands for value in _literals(operand)]
    return sorted(set(found))


def test_the_status_values_come_from_the_models():
    assert {"enrolled", "pending_review", "claimed", "submitted", "approved", "closed", "failed"} <= STATUSES


@pytest.mark.parametrize("source", [
    "{% if c.status == 'open' %}x{% endif %}",
    "{% if 'open' != c.status %}x{% endif %}",
    "{% if c.status not in ('completed', 'cancelled') %}x{% endif %}",
    "{{ 'a' if s.status in ['reviewed', 'paid'] }}",
    "{% if c.status is sameas 'open' %}x{% endif %}",
    "{{ rows | selectattr('status', 'equalto', 'enrolled') | list }}",
    "{% for status in ['claimed', 'used'] %}{{ status }}{% endfor %}",
    "{{ {'draft': '草稿', 'active': '发放中'}[t.status] }}",
])
def test_a_status_literal_is_found(source):
    assert status_literals(source)


@pytest.mark.parametrize("source", [
    "{% if c.is_open %}x{% endif %}",
    "{% if status == CLAIMED %}x{% endif %}",
    "{% if request.endpoint == 'worker.home' %}x{% endif %}",
    "{% if field == 'account_number' %}x{% endif %}",
    "<input type=hidden name=status value=open>{{ c.status_label }}",
])
def test_names_that_are_not_statuses_pass(source):
    assert status_literals(source) == []


def test_no_template_compares_a_status_literal():
    found = [f"templates/{path.relative_to(TEMPLATES)}:{line}: {value!r} {how}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for line, value, how in status_literals(path.read_text(encoding="utf-8"))]
    assert not found, ("status strings in templates; ask the model (a property such as TrainingClass.is_editable) "
                       "or name the constant (h5app/template_filters.py GLOBALS):\n" + "\n".join(found))
