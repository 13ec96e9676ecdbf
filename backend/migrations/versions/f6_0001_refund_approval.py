"""merchants: the amount above which a refund needs the owner's password

Revision ID: f6_0001
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = 'f6_0001'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchants') as batch_op:
        batch_op.add_column(sa.Column('refund_approval_above_fen', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_merchants_refund_approval_above_not_negative'),
            'refund_approval_above_fen IS NULL OR refund_approval_above_fen >= 0')


def downgrade():
    with op.batch_alter_table('merchants') as batch_op:
        batch_op.drop_constraint(op.f('ck_merchants_refund_approval_above_not_negative'), type_='check')
        batch_op.drop_column('refund_approval_above_fen')
