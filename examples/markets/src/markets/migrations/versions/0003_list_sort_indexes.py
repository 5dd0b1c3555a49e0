"""indexes that serve each list sort without a sort step, and fresh statistics

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A list sorts by one field, then by the id in the same direction: (field, id)
# serves it in either direction. ANALYZE gives SQLite's planner the statistics
# without which it prefers the status index and sorts every visible row.
_SORTS = {
    "ix_markets_created_at_id": ["created_at", "id"],
    "ix_markets_volume_id": ["volume", "id"],
    "ix_markets_name_id": ["name", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("markets", schema=None) as batch_op:
        batch_op.drop_index("ix_markets_created_at")
        for name, columns in _SORTS.items():
            batch_op.create_index(name, columns, unique=False)
    op.execute("ANALYZE")


def downgrade() -> None:
    with op.batch_alter_table("markets", schema=None) as batch_op:
        for name in _SORTS:
            batch_op.drop_index(name)
        batch_op.create_index("ix_markets_created_at", ["created_at"], unique=False)
