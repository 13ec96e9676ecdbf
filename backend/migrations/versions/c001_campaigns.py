"""campaigns: funders, campaigns, zones and merchants, packets, claims, devices, registrations, redemptions

Revision ID: c001
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = 'c001'
down_revision = '0003'
branch_labels = ('campaigns',)
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('campaign_funders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('wallet_id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], name=op.f('fk_campaign_funders_wallet_id_wallets')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_campaign_funders_zone_id_zones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_funders')),
    sa.UniqueConstraint('wallet_id', name=op.f('uq_campaign_funders_wallet_id'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('split', sa.String(length=8), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('funder_id', sa.Integer(), nullable=False),
    sa.Column('account_id', BIGINT, nullable=True),
    sa.Column('budget_fen', sa.BigInteger(), nullable=False),
    sa.Column('packet_count', sa.Integer(), nullable=False),
    sa.Column('discount_fen', sa.BigInteger(), nullable=True),
    sa.Column('min_spend_fen', sa.BigInteger(), nullable=True),
    sa.Column('stackable', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('device_cap', sa.Integer(), nullable=True),
    sa.Column('wallet_classes', sa.String(length=4), server_default='1234', nullable=False),
    sa.Column('wallet_opened_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('scenarios', sa.String(length=120), nullable=True),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('spend_ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seed_sha256', sa.String(length=64), nullable=True),
    sa.Column('seed_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('seed_hex', sa.String(length=64), nullable=True),
    sa.Column('drawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escrow_transfer_id', BIGINT, nullable=True),
    sa.Column('reclaimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('grab', 'lottery', 'coupon')", name=op.f('ck_campaigns_kind_known')),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'live', 'ended', 'settled')",
                       name=op.f('ck_campaigns_status_known')),
    sa.CheckConstraint("split IS NULL OR split IN ('random', 'fixed')", name=op.f('ck_campaigns_split_known')),
    sa.CheckConstraint('packet_count > 0 AND budget_fen >= packet_count',
                       name=op.f('ck_campaigns_budget_covers_packets')),
    sa.CheckConstraint("kind <> 'coupon' OR (discount_fen > 0 AND min_spend_fen >= discount_fen "
                       "AND budget_fen = discount_fen * packet_count)", name=op.f('ck_campaigns_coupon_terms')),
    sa.CheckConstraint("kind = 'coupon' OR split IS NOT NULL", name=op.f('ck_campaigns_red_packets_split')),
    sa.CheckConstraint('device_cap IS NULL OR device_cap > 0', name=op.f('ck_campaigns_device_cap_positive')),
    sa.CheckConstraint('opens_at < closes_at AND closes_at <= spend_ends_at',
                       name=op.f('ck_campaigns_windows_ordered')),
    sa.CheckConstraint("status = 'draft' OR account_id IS NOT NULL", name=op.f('ck_campaigns_launched_has_account')),
    sa.ForeignKeyConstraint(['funder_id'], ['campaign_funders.id'],
                            name=op.f('fk_campaigns_funder_id_campaign_funders')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_campaigns_account_id_accounts')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_campaigns_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['escrow_transfer_id'], ['transfers.id'],
                            name=op.f('fk_campaigns_escrow_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('account_id', name=op.f('uq_campaigns_account_id'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_status'), ['status'], unique=False)

    op.create_table('campaign_zones',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_zones_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_campaign_zones_zone_id_zones')),
    sa.PrimaryKeyConstraint('campaign_id', 'zone_id', name=op.f('pk_campaign_zones'))
    )
    with op.batch_alter_table('campaign_zones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_zones_zone_id'), ['zone_id'], unique=False)

    op.create_table('campaign_merchants',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_campaign_merchants_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'],
                            name=op.f('fk_campaign_merchants_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('campaign_id', 'merchant_id', name=op.f('pk_campaign_merchants'))
    )
    op.create_table('campaign_packets',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_campaign_packets_amount_positive')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_packets_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'seq', name=op.f('pk_campaign_packets'))
    )
    op.create_table('campaign_claims',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('packet_seq', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('restricted_account_id', BIGINT, nullable=True),
    sa.Column('used_order_id', BIGINT, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_campaign_claims_amount_positive')),
    sa.CheckConstraint("status IN ('claimed', 'used')", name=op.f('ck_campaign_claims_status_known')),
    sa.CheckConstraint("via IN ('gate', 'draw', 'grant')", name=op.f('ck_campaign_claims_via_known')),
    sa.CheckConstraint("status = 'claimed' OR used_order_id IS NOT NULL",
                       name=op.f('ck_campaign_claims_used_has_order')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_claims_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_campaign_claims_user_id_users')),
    sa.ForeignKeyConstraint(['restricted_account_id'], ['accounts.id'],
                            name=op.f('fk_campaign_claims_restricted_account_id_accounts')),
    sa.ForeignKeyConstraint(['used_order_id'], ['orders.id'], name=op.f('fk_campaign_claims_used_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_claims')),
    sa.UniqueConstraint('campaign_id', 'user_id', name='uq_campaign_claims_campaign_user'),
    sa.UniqueConstraint('campaign_id', 'packet_seq', name='uq_campaign_claims_campaign_packet'),
    sa.UniqueConstraint('restricted_account_id', name=op.f('uq_campaign_claims_restricted_account_id'))
    )
    with op.batch_alter_table('campaign_claims', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_claims_user_id', ['user_id'], unique=False)
        batch_op.create_index('ix_campaign_claims_campaign_id_created_at', ['campaign_id', 'created_at'], unique=False)

    op.create_table('campaign_devices',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.CheckConstraint('claims > 0', name=op.f('ck_campaign_devices_claims_positive')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_devices_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'device_id', name=op.f('pk_campaign_devices'))
    )
    op.create_table('campaign_registrations',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_campaign_registrations_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_campaign_registrations_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_registrations')),
    sa.UniqueConstraint('campaign_id', 'user_id', name='uq_campaign_registrations_campaign_user')
    )
    with op.batch_alter_table('campaign_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_registrations_user_id'), ['user_id'], unique=False)

    op.create_table('campaign_redemptions',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('order_id', BIGINT, nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('claim_id', BIGINT, nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('order_amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_campaign_redemptions_amount_positive')),
    sa.CheckConstraint('refunded_fen >= 0 AND refunded_fen <= amount_fen',
                       name=op.f('ck_campaign_redemptions_refund_bounded')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_campaign_redemptions_order_id_orders')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                            name=op.f('fk_campaign_redemptions_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['claim_id'], ['campaign_claims.id'],
                            name=op.f('fk_campaign_redemptions_claim_id_campaign_claims')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_redemptions')),
    sa.UniqueConstraint('order_id', 'claim_id', name='uq_campaign_redemptions_order_claim')
    )
    with op.batch_alter_table('campaign_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_campaign_redemptions_campaign_id', ['campaign_id'], unique=False)


def downgrade():
    with op.batch_alter_table('campaign_redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_redemptions_campaign_id')
    op.drop_table('campaign_redemptions')
    with op.batch_alter_table('campaign_registrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_registrations_user_id'))
    op.drop_table('campaign_registrations')
    op.drop_table('campaign_devices')
    with op.batch_alter_table('campaign_claims', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_claims_campaign_id_created_at')
        batch_op.drop_index('ix_campaign_claims_user_id')
    op.drop_table('campaign_claims')
    op.drop_table('campaign_packets')
    op.drop_table('campaign_merchants')
    with op.batch_alter_table('campaign_zones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_zones_zone_id'))
    op.drop_table('campaign_zones')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_status'))
    op.drop_table('campaigns')
    op.drop_table('campaign_funders')
