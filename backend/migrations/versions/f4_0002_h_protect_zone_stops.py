"""campaigns: zone-wide stops of every running campaign and the campaigns each paused (h-protect, #16)

Revision ID: hp_0001
Revises: f4_0001
"""
import sqlalchemy as sa
from alembic import op

revision = 'hp_0001'
down_revision = 'f4_0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('campaign_zone_stops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('stopped_by_user_id', sa.Integer(), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resumed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('resumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resume_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('(resumed_at IS NULL) = (resumed_by_user_id IS NULL)',
                       name=op.f('ck_campaign_zone_stops_resume_has_who')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_campaign_zone_stops_zone_id_zones')),
    sa.ForeignKeyConstraint(['stopped_by_user_id'], ['users.id'],
                            name=op.f('fk_campaign_zone_stops_stopped_by_user_id_users')),
    sa.ForeignKeyConstraint(['resumed_by_user_id'], ['users.id'],
                            name=op.f('fk_campaign_zone_stops_resumed_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_zone_stops'))
    )
    op.create_index('uq_campaign_zone_stops_active', 'campaign_zone_stops', ['zone_id'], unique=True,
                    postgresql_where=sa.text('resumed_at IS NULL'), sqlite_where=sa.text('resumed_at IS NULL'))
    op.create_table('campaign_zone_stop_campaigns',
    sa.Column('stop_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['stop_id'], ['campaign_zone_stops.id'],
                            name=op.f('fk_campaign_zone_stop_campaigns_stop_id_campaign_zone_stops')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_campaign_zone_stop_campaigns_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('stop_id', 'campaign_id', name=op.f('pk_campaign_zone_stop_campaigns'))
    )
    op.create_index(op.f('ix_campaign_zone_stop_campaigns_campaign_id'), 'campaign_zone_stop_campaigns',
                    ['campaign_id'])


def downgrade():
    op.drop_index(op.f('ix_campaign_zone_stop_campaigns_campaign_id'), table_name='campaign_zone_stop_campaigns')
    op.drop_table('campaign_zone_stop_campaigns')
    op.drop_index('uq_campaign_zone_stops_active', table_name='campaign_zone_stops')
    op.drop_table('campaign_zone_stops')
