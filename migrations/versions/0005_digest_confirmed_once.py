"""handoff: the digest counts a handoff confirmed once, from its sending, with its clarification rounds

first_confirmed_at: the first confirmation (a confirmation anew after a reassignment leaves it);
clarifications: the rounds the requester clarified before it; confirm_clock_carried_s: the receiving
department's time before a reassignment. Existing handoffs take them from their audit trail and rounds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 10:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirm_clock_carried_s', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('first_confirmed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('clarifications', sa.Integer(), server_default='0', nullable=False))
    op.execute(
        "UPDATE handoff SET first_confirmed_at = (SELECT min(e.at) FROM handoff_event e "
        "WHERE e.handoff_id = handoff.id AND e.action = 'accept')"
    )
    op.execute("UPDATE handoff SET first_confirmed_at = confirmed_at "
               "WHERE first_confirmed_at IS NULL AND confirmed_at IS NOT NULL")
    op.execute(
        "UPDATE handoff SET clarifications = (SELECT count(*) FROM understanding_round r "
        "WHERE r.handoff_id = handoff.id AND r.verdict = 'clarify' "
        "AND (handoff.first_confirmed_at IS NULL OR r.decided_at <= handoff.first_confirmed_at))"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('handoff', schema=None) as batch_op:
        batch_op.drop_column('clarifications')
        batch_op.drop_column('first_confirmed_at')
        batch_op.drop_column('confirm_clock_carried_s')
