"""protection: complaints and disputes (h-disputes): complaints with deadlines and decisions, their photos

Revision ID: p16_0004_disputes
Revises: p16_0004
"""
import sqlalchemy as sa
from alembic import op

revision = 'p16_0004_disputes'
down_revision = 'p16_0004'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
PENDING = sa.text("status IN ('open', 'answered')")


def upgrade():
    op.create_table('protection_complaints',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('subject_kind', sa.String(length=10), nullable=False),
    sa.Column('subject_id', sa.BigInteger(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('consumer_user_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=24), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decision_due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_by_user_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('refund_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refund_id', BIGINT, nullable=True),
    sa.Column('decided_by_user_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer_overdue_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("subject_kind IN ('payment', 'contract', 'merchant')",
                       name=op.f('ck_protection_complaints_subject_known')),
    sa.CheckConstraint("status IN ('open', 'answered', 'upheld', 'rejected', 'withdrawn')",
                       name=op.f('ck_protection_complaints_status_known')),
    sa.CheckConstraint('refund_fen >= 0', name=op.f('ck_protection_complaints_refund_not_negative')),
    sa.CheckConstraint("(status IN ('upheld', 'rejected')) = (decided_at IS NOT NULL)",
                       name=op.f('ck_protection_complaints_decided_has_when')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_protection_complaints_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'],
                            name=op.f('fk_protection_complaints_bank_id_operator_banks')),
    sa.ForeignKeyConstraint(['consumer_user_id'], ['users.id'],
                            name=op.f('fk_protection_complaints_consumer_user_id_users')),
    sa.ForeignKeyConstraint(['answered_by_user_id'], ['users.id'],
                            name=op.f('fk_protection_complaints_answered_by_user_id_users')),
    sa.ForeignKeyConstraint(['decided_by_user_id'], ['users.id'],
                            name=op.f('fk_protection_complaints_decided_by_user_id_users')),
    sa.ForeignKeyConstraint(['refund_id'], ['refunds.id'], name=op.f('fk_protection_complaints_refund_id_refunds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_complaints'))
    )
    op.create_index('uq_protection_complaints_pending', 'protection_complaints',
                    ['consumer_user_id', 'subject_kind', 'subject_id'], unique=True,
                    postgresql_where=PENDING, sqlite_where=PENDING)
    op.create_index('ix_protection_complaints_bank_status', 'protection_complaints', ['bank_id', 'status'])
    op.create_index('ix_protection_complaints_merchant_created_at', 'protection_complaints',
                    ['merchant_id', 'created_at'])
    op.create_index(op.f('ix_protection_complaints_consumer_user_id'), 'protection_complaints', ['consumer_user_id'])
    op.create_table('protection_complaint_photos',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('complaint_id', BIGINT, nullable=False),
    sa.Column('content_type', sa.String(length=10), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png')",
                       name=op.f('ck_protection_complaint_photos_type_known')),
    sa.ForeignKeyConstraint(['complaint_id'], ['protection_complaints.id'],
                            name=op.f('fk_protection_complaint_photos_complaint_id_protection_complaints')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_complaint_photos'))
    )
    op.create_index(op.f('ix_protection_complaint_photos_complaint_id'), 'protection_complaint_photos',
                    ['complaint_id'])


def downgrade():
    op.drop_index(op.f('ix_protection_complaint_photos_complaint_id'), table_name='protection_complaint_photos')
    op.drop_table('protection_complaint_photos')
    op.drop_index(op.f('ix_protection_complaints_consumer_user_id'), table_name='protection_complaints')
    op.drop_index('ix_protection_complaints_merchant_created_at', table_name='protection_complaints')
    op.drop_index('ix_protection_complaints_bank_status', table_name='protection_complaints')
    op.drop_index('uq_protection_complaints_pending', table_name='protection_complaints')
    op.drop_table('protection_complaints')
