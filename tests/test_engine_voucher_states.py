"""The voucher state machine (PRODUCT.md §4): exactly the allowed moves, each audited, and a move
from a state someone else has since changed refused as stale."""
import pytest
from sqlalchemy.orm.attributes import set_committed_value

from h5app.models import AuditEvent, Voucher
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED, VOUCHER_STATUSES
from h5app.vouchers import audit, states
from h5app.vouchers.errors import InvalidTransition
from tests import factories as f
from tests.voucher_support import NOW, count, make_voucher, stored

ALL_STATES = list(VOUCHER_STATUSES)


def test_the_allowed_moves_are_exactly_those_of_the_product_spec():
    assert states.ALLOWED_MOVES == {
        OFFERED: {CLAIMED, EXPIRED, REVOKED},
        CLAIMED: {USED, EXPIRED, REVOKED},
        USED: {SETTLED, CLAIMED},  # back to claimed: class cancelled or trainee withdrawn (issue 19)
        SETTLED: set(),
        EXPIRED: set(),
        REVOKED: set(),
    }


@pytest.mark.parametrize("from_status, to_status", [(a, b) for a in ALL_STATES for b in ALL_STATES])
def test_only_allowed_moves_happen_and_each_is_audited(session, from_status, to_status):
    voucher = make_voucher(from_status)
    session.commit()
    actor = audit.Actor("staff", None, "测试经办", region_code="330600")

    if to_status in states.ALLOWED_MOVES[from_status]:
        states.move(session, voucher, to_status, actor, reason="测试原因", at=NOW)
        session.commit()
        assert stored(session, voucher.id).status == to_status
        [event] = f.audit_events(voucher_id=voucher.id)
        assert (event.from_status, event.to_status, event.reason, event.at) == (from_status, to_status, "测试原因", NOW)
        assert (event.actor_type, event.actor_label) == ("staff", "测试经办")
        assert event.action == ("voucher.return" if (from_status, to_status) == (USED, CLAIMED)
                                else states.ACTIONS[to_status])
    else:
        with pytest.raises(InvalidTransition):
            states.move(session, voucher, to_status, actor, reason="测试原因", at=NOW)
        session.rollback()
        assert stored(session, voucher.id).status == from_status
        assert count(session, AuditEvent) == 0


def test_a_move_from_a_state_read_before_someone_else_moved_it_is_stale(session):
    voucher = make_voucher(CLAIMED)
    session.commit()
    voucher_id = voucher.id
    session.execute(Voucher.__table__.update().where(Voucher.id == voucher_id).values(status=USED))
    session.commit()
    voucher = session.get(Voucher, voucher_id)
    set_committed_value(voucher, "status", CLAIMED)  # what an earlier read saw

    with pytest.raises(states.StaleState):
        states.move(session, voucher, REVOKED, f.bureau_actor(), reason="过期读", at=NOW)

    session.rollback()
    assert stored(session, voucher_id).status == USED
    assert count(session, AuditEvent) == 0
