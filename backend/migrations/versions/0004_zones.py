"""zones plug-in: outlines, merchant placement, daily KPI aggregates, reports, application thresholds

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = ('zones',)
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('zones') as batch_op:
        batch_op.add_column(sa.Column('boundary_geojson', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('min_lon', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('min_lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('max_lon', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('max_lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    # The Two-Mountains area (Baiyun and Maofeng mountains) lies in Baiyun District.
    op.execute("UPDATE zones SET district = '白云区' WHERE code = 'liangshan' AND district = '从化区'")

    op.create_table('zone_merchants',
    sa.Column('merchant_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_zone_merchants_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_zone_merchants_zone_id_zones')),
    sa.PrimaryKeyConstraint('merchant_id', name=op.f('pk_zone_merchants'))
    )
    with op.batch_alter_table('zone_merchants') as batch_op:
        batch_op.create_index(batch_op.f('ix_zone_merchants_zone_id'), ['zone_id'], unique=False)
        batch_op.create_index('ix_zone_merchants_latitude_longitude', ['latitude', 'longitude'], unique=False)

    op.create_table('zone_kpi_daily',
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('payment_count', sa.Integer(), nullable=False),
    sa.Column('payment_fen', sa.BigInteger(), nullable=False),
    sa.Column('refund_count', sa.Integer(), nullable=False),
    sa.Column('refund_fen', sa.BigInteger(), nullable=False),
    sa.Column('active_wallets', sa.Integer(), nullable=False),
    sa.Column('wallets_opened', sa.Integer(), nullable=False),
    sa.Column('merchants_accepting', sa.Integer(), nullable=False),
    sa.Column('subsidy_fen', sa.BigInteger(), nullable=False),
    sa.Column('subsidised_payment_count', sa.Integer(), nullable=False),
    sa.Column('subsidy_driven_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('payment_count >= 0 AND payment_fen >= 0 AND refund_count >= 0 AND refund_fen >= 0 AND active_wallets >= 0 AND wallets_opened >= 0 AND merchants_accepting >= 0 AND subsidy_fen >= 0 AND subsidised_payment_count >= 0 AND subsidy_driven_fen >= 0', name=op.f('ck_zone_kpi_daily_not_negative')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_zone_kpi_daily_zone_id_zones')),
    sa.PrimaryKeyConstraint('zone_id', 'day', name=op.f('pk_zone_kpi_daily'))
    )

    op.create_table('zone_merchant_daily',
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('scenario', sa.String(length=16), nullable=False),
    sa.Column('payment_count', sa.Integer(), nullable=False),
    sa.Column('payment_fen', sa.BigInteger(), nullable=False),
    sa.Column('refund_count', sa.Integer(), nullable=False),
    sa.Column('refund_fen', sa.BigInteger(), nullable=False),
    sa.Column('subsidy_fen', sa.BigInteger(), nullable=False),
    sa.Column('subsidy_driven_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('payment_count >= 0 AND payment_fen >= 0 AND refund_count >= 0 AND refund_fen >= 0 AND subsidy_fen >= 0 AND subsidy_driven_fen >= 0', name=op.f('ck_zone_merchant_daily_not_negative')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_zone_merchant_daily_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_zone_merchant_daily_zone_id_zones')),
    sa.PrimaryKeyConstraint('zone_id', 'day', 'merchant_id', name=op.f('pk_zone_merchant_daily'))
    )

    op.create_table('zone_daily_payers',
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_zone_daily_payers_user_id_users')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_zone_daily_payers_zone_id_zones')),
    sa.PrimaryKeyConstraint('zone_id', 'day', 'user_id', name=op.f('pk_zone_daily_payers'))
    )

    op.create_table('zone_kpi_applied',
    sa.Column('transfer_id', BIGINT_ID, autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.CheckConstraint("kind IN ('payment', 'refund')", name=op.f('ck_zone_kpi_applied_kind_known')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_zone_kpi_applied_transfer_id_transfers')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_zone_kpi_applied_zone_id_zones')),
    sa.PrimaryKeyConstraint('transfer_id', name=op.f('pk_zone_kpi_applied'))
    )
    with op.batch_alter_table('zone_kpi_applied') as batch_op:
        batch_op.create_index('ix_zone_kpi_applied_day_zone_id', ['day', 'zone_id'], unique=False)

    op.create_table('zone_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('csv', sa.Text(), nullable=True),
    sa.Column('figures_json', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_by_user_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("period IN ('weekly', 'monthly')", name=op.f('ck_zone_reports_period_known')),
    sa.CheckConstraint("status IN ('pending', 'ready', 'failed')", name=op.f('ck_zone_reports_status_known')),
    sa.CheckConstraint("status <> 'ready' OR (pdf IS NOT NULL AND csv IS NOT NULL)", name=op.f('ck_zone_reports_ready_has_files')),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'], name=op.f('fk_zone_reports_requested_by_user_id_users')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_zone_reports_zone_id_zones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zone_reports')),
    sa.UniqueConstraint('zone_id', 'period', 'start', name='uq_zone_reports_zone_period_start')
    )
    with op.batch_alter_table('zone_reports') as batch_op:
        batch_op.create_index(batch_op.f('ix_zone_reports_zone_id'), ['zone_id'], unique=False)

    op.create_table('zone_thresholds',
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('value >= 0', name=op.f('ck_zone_thresholds_value_not_negative')),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['users.id'], name=op.f('fk_zone_thresholds_updated_by_user_id_users')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_zone_thresholds'))
    )


def downgrade():
    op.drop_table('zone_thresholds')
    with op.batch_alter_table('zone_reports') as batch_op:
        batch_op.drop_index(batch_op.f('ix_zone_reports_zone_id'))
    op.drop_table('zone_reports')
    with op.batch_alter_table('zone_kpi_applied') as batch_op:
        batch_op.drop_index('ix_zone_kpi_applied_day_zone_id')
    op.drop_table('zone_kpi_applied')
    op.drop_table('zone_daily_payers')
    op.drop_table('zone_merchant_daily')
    op.drop_table('zone_kpi_daily')
    with op.batch_alter_table('zone_merchants') as batch_op:
        batch_op.drop_index('ix_zone_merchants_latitude_longitude')
        batch_op.drop_index(batch_op.f('ix_zone_merchants_zone_id'))
    op.drop_table('zone_merchants')
    with op.batch_alter_table('zones') as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('max_lat')
        batch_op.drop_column('max_lon')
        batch_op.drop_column('min_lat')
        batch_op.drop_column('min_lon')
        batch_op.drop_column('boundary_geojson')
