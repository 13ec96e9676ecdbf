"""prepaid: consumers' complaints, the credit-grade history (computed daily, regulators' overrides), and shops'
release requests that consumers confirm

Revision ID: p13_0002
Revises: p13_0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'p13_0002'
down_revision = 'p13_0001'
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('prepaid_complaints',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('contract_id', BIGINT, nullable=False),
    sa.Column('prepaid_merchant_id', sa.Integer(), nullable=False),
    sa.Column('consumer_user_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['prepaid_contracts.id'],
                            name=op.f('fk_prepaid_complaints_contract_id_prepaid_contracts')),
    sa.ForeignKeyConstraint(['prepaid_merchant_id'], ['prepaid_merchants.id'],
                            name=op.f('fk_prepaid_complaints_prepaid_merchant_id_prepaid_merchants')),
    sa.ForeignKeyConstraint(['consumer_user_id'], ['users.id'],
                            name=op.f('fk_prepaid_complaints_consumer_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_complaints'))
    )
    with op.batch_alter_table('prepaid_complaints') as batch_op:
        batch_op.create_index(batch_op.f('ix_prepaid_complaints_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index('ix_prepaid_complaints_merchant_created_at', ['prepaid_merchant_id', 'created_at'],
                              unique=False)

    op.create_table('prepaid_grades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prepaid_merchant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('inputs_json', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('computed', 'override', 'cleared')", name=op.f('ck_prepaid_grades_kind_known')),
    sa.CheckConstraint("grade IS NULL OR grade IN ('A', 'B', 'C')", name=op.f('ck_prepaid_grades_grade_known')),
    sa.CheckConstraint("(kind = 'cleared') = (grade IS NULL)", name=op.f('ck_prepaid_grades_grade_unless_cleared')),
    sa.CheckConstraint("kind = 'computed' OR (reason IS NOT NULL AND by_user_id IS NOT NULL)",
                       name=op.f('ck_prepaid_grades_override_has_reason')),
    sa.CheckConstraint("(kind = 'computed') = (day IS NOT NULL)", name=op.f('ck_prepaid_grades_computed_has_day')),
    sa.ForeignKeyConstraint(['prepaid_merchant_id'], ['prepaid_merchants.id'],
                            name=op.f('fk_prepaid_grades_prepaid_merchant_id_prepaid_merchants')),
    sa.ForeignKeyConstraint(['by_user_id'], ['users.id'], name=op.f('fk_prepaid_grades_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_grades')),
    sa.UniqueConstraint('prepaid_merchant_id', 'day', name='uq_prepaid_grades_merchant_day')
    )
    with op.batch_alter_table('prepaid_grades') as batch_op:
        batch_op.create_index('ix_prepaid_grades_merchant_id', ['prepaid_merchant_id', 'id'], unique=False)


    op.create_table('prepaid_release_requests',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('contract_id', BIGINT, nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_by_user_id', sa.Integer(), nullable=False),
    sa.Column('release_id', BIGINT, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'declined')",
                       name=op.f('ck_prepaid_release_requests_status_known')),
    sa.CheckConstraint('units > 0', name=op.f('ck_prepaid_release_requests_units_positive')),
    sa.CheckConstraint("(status = 'confirmed') = (release_id IS NOT NULL)",
                       name=op.f('ck_prepaid_release_requests_confirmed_has_release')),
    sa.ForeignKeyConstraint(['contract_id'], ['prepaid_contracts.id'],
                            name=op.f('fk_prepaid_release_requests_contract_id_prepaid_contracts')),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'],
                            name=op.f('fk_prepaid_release_requests_requested_by_user_id_users')),
    sa.ForeignKeyConstraint(['release_id'], ['prepaid_releases.id'],
                            name=op.f('fk_prepaid_release_requests_release_id_prepaid_releases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_release_requests')),
    sa.UniqueConstraint('release_id', name=op.f('uq_prepaid_release_requests_release_id'))
    )
    with op.batch_alter_table('prepaid_release_requests') as batch_op:
        batch_op.create_index('ix_prepaid_release_requests_contract_status', ['contract_id', 'status'], unique=False)


def downgrade():
    op.drop_table('prepaid_release_requests')
    op.drop_table('prepaid_grades')
    op.drop_table('prepaid_complaints')
