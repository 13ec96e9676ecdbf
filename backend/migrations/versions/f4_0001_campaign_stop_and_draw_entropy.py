"""campaigns: pause and cancel (statuses, when and by whom), lottery reveal window and registrants' entropy

Revision ID: f4_0001
Revises: c001
"""
from alembic import op
import sqlalchemy as sa


revision = 'f4_0001'
down_revision = 'c001'
branch_labels = None
depends_on = None

OLD = "status IN ('draft', 'scheduled', 'live', 'ended', 'settled')"
NEW = "status IN ('draft', 'scheduled', 'live', 'paused', 'ended', 'cancelled', 'settled')"


def upgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_campaigns_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', NEW)
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancelled_by_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cancel_reclaimed', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('reveal_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('registrations_sha256', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_campaigns_cancelled_by_user_id_users'), 'users',
                                    ['cancelled_by_user_id'], ['id'])
    with op.batch_alter_table('campaign_registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commitment', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('secret_hex', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('revealed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('campaign_registrations', schema=None) as batch_op:
        batch_op.drop_column('revealed_at')
        batch_op.drop_column('secret_hex')
        batch_op.drop_column('commitment')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_campaigns_cancelled_by_user_id_users'), type_='foreignkey')
        batch_op.drop_column('registrations_sha256')
        batch_op.drop_column('reveal_s')
        batch_op.drop_column('cancel_reclaimed')
        batch_op.drop_column('cancelled_by_user_id')
        batch_op.drop_column('cancelled_at')
        batch_op.drop_column('paused_at')
        batch_op.drop_constraint(batch_op.f('ck_campaigns_status_known'), type_='check')
        batch_op.create_check_constraint('status_known', OLD)
