"""one verified identity per wallet per operator bank

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('wallets') as batch_op:
        batch_op.create_unique_constraint('uq_wallets_bank_identity', ['bank_id', 'id_number_hash'])


def downgrade():
    with op.batch_alter_table('wallets') as batch_op:
        batch_op.drop_constraint('uq_wallets_bank_identity', type_='unique')
