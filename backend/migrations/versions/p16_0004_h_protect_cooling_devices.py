"""protection: transfers held for a cooling period, devices consumers moved money from (h-protect)

Revision ID: p16_0004
Revises: p16_0003
"""
import sqlalchemy as sa
from alembic import op

revision = 'p16_0004'
down_revision = 'p16_0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('protection_held_transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payer_user_id', sa.Integer(), nullable=False),
    sa.Column('payee_user_id', sa.Integer(), nullable=False),
    sa.Column('payee_phone', sa.String(length=20), nullable=True),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('memo', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('transfer_id', sa.Integer(), nullable=True),
    sa.Column('failure_code', sa.String(length=40), nullable=True),
    sa.Column('failure_detail', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'completed', 'cancelled', 'failed')",
                       name=op.f('ck_protection_held_transfers_status_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_protection_held_transfers_amount_positive')),
    sa.CheckConstraint("(status = 'completed') = (transfer_id IS NOT NULL)",
                       name=op.f('ck_protection_held_transfers_completed_has_transfer')),
    sa.ForeignKeyConstraint(['payer_user_id'], ['users.id'],
                            name=op.f('fk_protection_held_transfers_payer_user_id_users')),
    sa.ForeignKeyConstraint(['payee_user_id'], ['users.id'],
                            name=op.f('fk_protection_held_transfers_payee_user_id_users')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'],
                            name=op.f('fk_protection_held_transfers_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_held_transfers'))
    )
    op.create_index(op.f('ix_protection_held_transfers_payer_user_id'), 'protection_held_transfers',
                    ['payer_user_id'])
    op.create_index('ix_protection_held_transfers_due', 'protection_held_transfers', ['due_at'],
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_table('protection_known_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('device_hash', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_protection_known_devices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_known_devices')),
    sa.UniqueConstraint('user_id', 'device_hash', name='uq_protection_known_devices_user_device')
    )


def downgrade():
    op.drop_table('protection_known_devices')
    op.drop_index('ix_protection_held_transfers_due', table_name='protection_held_transfers')
    op.drop_index(op.f('ix_protection_held_transfers_payer_user_id'), table_name='protection_held_transfers')
    op.drop_table('protection_held_transfers')
