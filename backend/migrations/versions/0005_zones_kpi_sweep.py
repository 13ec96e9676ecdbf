"""zones: index orders by paid_at for the KPI sweep (recently paid orders not yet counted)

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders') as batch_op:
        batch_op.create_index('ix_orders_paid_at', ['paid_at'], unique=False)


def downgrade():
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_index('ix_orders_paid_at')
