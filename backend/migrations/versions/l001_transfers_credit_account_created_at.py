"""ledger: index transfers by credit account and time, for an account's transfers of one day

A merchant's daily statement checks its orders against the ledger's credits
into the merchant's wallet that day (``statements.compute``). With only
``(credit_account_id, id)`` that read the merchant's whole history: in
``python -m bench.growth`` at 1M payments, a merchant-day of 50 payments read
the merchant's 10,641 transfers, and one night's statements for all merchants
read all 1,000,000 payment transfers; with this index, only the day's.

Built CONCURRENTLY on PostgreSQL so payments keep flowing while it builds.

Revision ID: l001
Revises: 0003
"""
from alembic import op

revision = 'l001'
down_revision = '0003'
branch_labels = None
depends_on = None

NAME = 'ix_transfers_credit_account_id_created_at'


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index(NAME, 'transfers', ['credit_account_id', 'created_at'], postgresql_concurrently=True)
    else:
        with op.batch_alter_table('transfers') as batch_op:
            batch_op.create_index(NAME, ['credit_account_id', 'created_at'], unique=False)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(NAME, 'transfers', postgresql_concurrently=True)
    else:
        with op.batch_alter_table('transfers') as batch_op:
            batch_op.drop_index(NAME)
