"""protection: the fraud registry (reported codes, merchants, wallets, phones, web hosts) and its reports

Revision ID: p16_0002
Revises: p16_0001
"""
import sqlalchemy as sa
from alembic import op

revision = 'p16_0002'
down_revision = 'p16_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('protection_fraud_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('value', sa.String(length=1000), nullable=False),
    sa.Column('value_hash', sa.String(length=64), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('bank_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('report_count', sa.Integer(), nullable=False),
    sa.Column('first_reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("kind IN ('qr_payload', 'merchant', 'wallet', 'phone', 'url')", name=op.f('ck_protection_fraud_entries_kind_known')),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'rejected', 'withdrawn')", name=op.f('ck_protection_fraud_entries_status_known')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_protection_fraud_entries_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_protection_fraud_entries_user_id_users')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'], name=op.f('fk_protection_fraud_entries_bank_id_operator_banks')),
    sa.ForeignKeyConstraint(['reviewed_by_user_id'], ['users.id'], name=op.f('fk_protection_fraud_entries_reviewed_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_fraud_entries')),
    sa.UniqueConstraint('value_hash', name='uq_protection_fraud_entries_value_hash')
    )
    op.create_index('ix_protection_fraud_entries_status', 'protection_fraud_entries', ['status'])
    op.create_index(op.f('ix_protection_fraud_entries_merchant_id'), 'protection_fraud_entries', ['merchant_id'])
    op.create_index(op.f('ix_protection_fraud_entries_user_id'), 'protection_fraud_entries', ['user_id'])
    op.create_table('protection_fraud_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('reporter_user_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['protection_fraud_entries.id'], name=op.f('fk_protection_fraud_reports_entry_id_protection_fraud_entries')),
    sa.ForeignKeyConstraint(['reporter_user_id'], ['users.id'], name=op.f('fk_protection_fraud_reports_reporter_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_fraud_reports')),
    sa.UniqueConstraint('entry_id', 'reporter_user_id', name='uq_protection_fraud_reports_once')
    )
    op.create_index(op.f('ix_protection_fraud_reports_entry_id'), 'protection_fraud_reports', ['entry_id'])


def downgrade():
    op.drop_table('protection_fraud_reports')
    op.drop_table('protection_fraud_entries')
