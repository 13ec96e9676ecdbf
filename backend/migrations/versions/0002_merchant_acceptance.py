"""merchant acceptance: staff, orders, refunds, keys, paycodes, statements

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:47:34.807355

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signing_keys',
    sa.Column('kid', sa.String(length=25), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('private_key_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_signing_keys'))
    )
    op.create_table('paycode_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('secret_enc', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offline_count', sa.Integer(), nullable=False),
    sa.Column('last_sync_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('offline_count >= 0', name=op.f('ck_paycode_devices_offline_count_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_paycode_devices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paycode_devices'))
    )
    with op.batch_alter_table('paycode_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paycode_devices_user_id'), ['user_id'], unique=False)

    op.create_table('static_qr_spend',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('spent_fen', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('spent_fen >= 0', name=op.f('ck_static_qr_spend_spent_not_negative')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_static_qr_spend_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', 'day', name=op.f('pk_static_qr_spend'))
    )
    op.create_table('merchant_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('refund_limit_fen', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('refund_limit_fen >= 0', name=op.f('ck_merchant_staff_refund_limit_not_negative')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_merchant_staff_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_merchant_staff_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchant_staff')),
    sa.UniqueConstraint('user_id', name=op.f('uq_merchant_staff_user_id'))
    )
    with op.batch_alter_table('merchant_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchant_staff_merchant_id'), ['merchant_id'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reference', sa.String(length=25), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('key_id', sa.String(length=25), nullable=True),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payer_user_id', sa.Integer(), nullable=True),
    sa.Column('payment_transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('refunded_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint("kind IN ('dynamic', 'static', 'paycode')", name=op.f('ck_orders_kind_known')),
    sa.CheckConstraint("status IN ('created', 'expired', 'cancelled') OR payment_transfer_id IS NOT NULL", name=op.f('ck_orders_paid_has_transfer')),
    sa.CheckConstraint("status IN ('created', 'paid', 'expired', 'cancelled', 'partially_refunded', 'refunded')", name=op.f('ck_orders_status_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_orders_amount_positive')),
    sa.CheckConstraint('refunded_fen >= 0 AND refunded_fen <= amount_fen', name=op.f('ck_orders_refund_bounded')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_orders_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_orders_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['payer_user_id'], ['users.id'], name=op.f('fk_orders_payer_user_id_users')),
    sa.ForeignKeyConstraint(['payment_transfer_id'], ['transfers.id'], name=op.f('fk_orders_payment_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('payment_transfer_id', name=op.f('uq_orders_payment_transfer_id')),
    sa.UniqueConstraint('reference', name=op.f('uq_orders_reference'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_merchant_id_created_at', ['merchant_id', 'created_at'], unique=False)
        batch_op.create_index('ix_orders_merchant_id_paid_at', ['merchant_id', 'paid_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_payer_user_id'), ['payer_user_id'], unique=False)

    op.create_table('statements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('payment_count', sa.Integer(), nullable=False),
    sa.Column('gross_fen', sa.BigInteger(), nullable=False),
    sa.Column('refund_count', sa.Integer(), nullable=False),
    sa.Column('refunds_fen', sa.BigInteger(), nullable=False),
    sa.Column('net_fen', sa.BigInteger(), nullable=False),
    sa.Column('body_json', sa.Text(), nullable=False),
    sa.Column('body_csv', sa.Text(), nullable=False),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_statements_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statements')),
    sa.UniqueConstraint('merchant_id', 'day', name='uq_statements_merchant_day')
    )
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statements_day'), ['day'], unique=False)

    op.create_table('paycode_uses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('counter', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['paycode_devices.id'], name=op.f('fk_paycode_uses_device_id_paycode_devices')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_paycode_uses_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paycode_uses')),
    sa.UniqueConstraint('device_id', 'counter', name='uq_paycode_uses_device_counter')
    )
    op.create_table('refunds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reason', sa.String(length=140), nullable=True),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_refunds_amount_positive')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_refunds_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_refunds_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('transfer_id', name=op.f('uq_refunds_transfer_id'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_order_id'), ['order_id'], unique=False)



def downgrade():
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_order_id'))
        batch_op.drop_index(batch_op.f('ix_refunds_created_at'))

    op.drop_table('refunds')
    op.drop_table('paycode_uses')
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_statements_day'))

    op.drop_table('statements')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_payer_user_id'))
        batch_op.drop_index('ix_orders_merchant_id_paid_at')
        batch_op.drop_index('ix_orders_merchant_id_created_at')

    op.drop_table('orders')
    with op.batch_alter_table('merchant_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchant_staff_merchant_id'))

    op.drop_table('merchant_staff')
    op.drop_table('static_qr_spend')
    with op.batch_alter_table('paycode_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paycode_devices_user_id'))

    op.drop_table('paycode_devices')
    op.drop_table('signing_keys')
