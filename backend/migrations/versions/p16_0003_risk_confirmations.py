"""protection: used risk-confirmation tokens (one transfer per token)

Revision ID: p16_0003
Revises: p16_0002
"""
import sqlalchemy as sa
from alembic import op

revision = 'p16_0003'
down_revision = 'p16_0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('protection_risk_confirmations',
    sa.Column('jti', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('rules', sa.String(length=200), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                            name=op.f('fk_protection_risk_confirmations_user_id_users')),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_protection_risk_confirmations'))
    )


def downgrade():
    op.drop_table('protection_risk_confirmations')
