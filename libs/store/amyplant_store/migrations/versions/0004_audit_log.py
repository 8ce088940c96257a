"""The audit log: who (which API key) did what to what, for actions that delete data or grant access.

Rows name the acting key by id and name, copied rather than referenced: the trail must outlive the keys
and people it mentions, so it has no foreign keys. It holds ids, never names of people or biometric data,
so that erasing a person leaves nothing of them here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # Null for the system itself (the first admin key created at start-up).
        sa.Column("actor_key_id", sa.BigInteger, nullable=True),
        sa.Column("actor_name", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("audit_log_at_idx", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
