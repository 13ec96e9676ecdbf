"""initial schema: ledger, identity, banks, wallets, merchants, zones, idempotency

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 13:39:42.217587

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('balance_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('allow_negative', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('balance_cap_fen', sa.BigInteger(), nullable=True),
    sa.Column('single_cap_fen', sa.BigInteger(), nullable=True),
    sa.Column('day_cap_fen', sa.BigInteger(), nullable=True),
    sa.Column('year_cap_fen', sa.BigInteger(), nullable=True),
    sa.Column('spend_day', sa.Date(), nullable=True),
    sa.Column('day_spent_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('spend_year', sa.Integer(), nullable=True),
    sa.Column('year_spent_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("allow_negative = (kind = 'issuance')", name=op.f('ck_accounts_only_issuance_negative')),
    sa.CheckConstraint("kind IN ('issuance', 'wallet', 'merchant', 'campaign', 'restricted')", name=op.f('ck_accounts_kind_known')),
    sa.CheckConstraint('allow_negative OR balance_fen >= 0', name=op.f('ck_accounts_balance_not_negative')),
    sa.CheckConstraint('balance_cap_fen IS NULL OR balance_fen <= balance_cap_fen', name=op.f('ck_accounts_balance_under_cap')),
    sa.CheckConstraint('day_spent_fen >= 0 AND year_spent_fen >= 0', name=op.f('ck_accounts_spent_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts'))
    )
    op.create_table('zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.String(length=40), nullable=False),
    sa.Column('name_en', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('district', sa.String(length=20), nullable=False),
    sa.CheckConstraint("kind IN ('business_district', 'scenic_area', 'convention_centre', 'finance_district', 'industrial_park')", name=op.f('ck_zones_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zones')),
    sa.UniqueConstraint('code', name=op.f('uq_zones_code'))
    )
    op.create_table('operator_banks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.String(length=40), nullable=False),
    sa.Column('name_en', sa.String(length=80), nullable=False),
    sa.Column('issuance_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['issuance_account_id'], ['accounts.id'], name=op.f('fk_operator_banks_issuance_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_operator_banks')),
    sa.UniqueConstraint('code', name=op.f('uq_operator_banks_code')),
    sa.UniqueConstraint('issuance_account_id', name=op.f('uq_operator_banks_issuance_account_id'))
    )
    op.create_table('transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('debit_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('credit_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('reverses_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reversed_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('memo', sa.String(length=140), nullable=True),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_transfers_amount_positive')),
    sa.CheckConstraint('debit_account_id <> credit_account_id', name=op.f('ck_transfers_distinct_accounts')),
    sa.CheckConstraint('reversed_fen >= 0 AND reversed_fen <= amount_fen', name=op.f('ck_transfers_reversal_bounded')),
    sa.ForeignKeyConstraint(['credit_account_id'], ['accounts.id'], name=op.f('fk_transfers_credit_account_id_accounts')),
    sa.ForeignKeyConstraint(['debit_account_id'], ['accounts.id'], name=op.f('fk_transfers_debit_account_id_accounts')),
    sa.ForeignKeyConstraint(['reverses_id'], ['transfers.id'], name=op.f('fk_transfers_reverses_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers'))
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfers_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('ix_transfers_credit_account_id_id', ['credit_account_id', 'id'], unique=False)
        batch_op.create_index('ix_transfers_debit_account_id_id', ['debit_account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_reverses_id'), ['reverses_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('display_name', sa.String(length=64), server_default='', nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("role <> 'bank_reviewer' OR bank_id IS NOT NULL", name=op.f('ck_users_reviewer_has_bank')),
    sa.CheckConstraint("role IN ('consumer', 'merchant_owner', 'cashier', 'bank_reviewer', 'zone_manager', 'pilot_admin')", name=op.f('ck_users_role_known')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'], name=op.f('fk_users_bank_id_operator_banks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('phone', name=op.f('uq_users_phone'))
    )
    op.create_table('auth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auth_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_tokens_token_hash'))
    )
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_json', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name='uq_idempotency_keys_user_key')
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('merchants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_user_id', sa.Integer(), nullable=False),
    sa.Column('name_zh', sa.String(length=25), nullable=False),
    sa.Column('name_en', sa.String(length=25), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('mcc', sa.String(length=4), nullable=False),
    sa.Column('scenario', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=15), server_default='Guangzhou', nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reviewed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("scenario IN ('food', 'lodging', 'transport', 'tourism', 'shopping', 'entertainment', 'medical')", name=op.f('ck_merchants_scenario_known')),
    sa.CheckConstraint("status <> 'approved' OR account_id IS NOT NULL", name=op.f('ck_merchants_approved_has_wallet')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'suspended')", name=op.f('ck_merchants_status_known')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_merchants_account_id_accounts')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'], name=op.f('fk_merchants_bank_id_operator_banks')),
    sa.ForeignKeyConstraint(['owner_user_id'], ['users.id'], name=op.f('fk_merchants_owner_user_id_users')),
    sa.ForeignKeyConstraint(['reviewed_by_user_id'], ['users.id'], name=op.f('fk_merchants_reviewed_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merchants')),
    sa.UniqueConstraint('account_id', name=op.f('uq_merchants_account_id')),
    sa.UniqueConstraint('uscc', name=op.f('uq_merchants_uscc'))
    )
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merchants_bank_id'), ['bank_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_merchants_owner_user_id'), ['owner_user_id'], unique=False)

    op.create_table('wallets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('wallet_number', sa.String(length=16), nullable=False),
    sa.Column('wallet_class', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('real_name', sa.String(length=64), nullable=True),
    sa.Column('id_number_masked', sa.String(length=18), nullable=True),
    sa.Column('id_number_hash', sa.String(length=64), nullable=True),
    sa.Column('bank_account_masked', sa.String(length=24), nullable=True),
    sa.Column('card_token', sa.String(length=64), nullable=True),
    sa.Column('card_masked', sa.String(length=24), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('upgraded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'frozen')", name=op.f('ck_wallets_status_known')),
    sa.CheckConstraint('wallet_class = 4 OR id_number_hash IS NOT NULL', name=op.f('ck_wallets_class3_has_identity')),
    sa.CheckConstraint('wallet_class > 2 OR bank_account_masked IS NOT NULL', name=op.f('ck_wallets_class2_has_account')),
    sa.CheckConstraint('wallet_class BETWEEN 1 AND 4', name=op.f('ck_wallets_class_known')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_wallets_account_id_accounts')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'], name=op.f('fk_wallets_bank_id_operator_banks')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_wallets_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wallets')),
    sa.UniqueConstraint('account_id', name=op.f('uq_wallets_account_id')),
    sa.UniqueConstraint('user_id', name=op.f('uq_wallets_user_id')),
    sa.UniqueConstraint('wallet_number', name=op.f('uq_wallets_wallet_number'))
    )
    with op.batch_alter_table('wallets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wallets_id_number_hash'), ['id_number_hash'], unique=False)

    op.create_table('zone_managers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_zone_managers_user_id_users')),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], name=op.f('fk_zone_managers_zone_id_zones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zone_managers')),
    sa.UniqueConstraint('user_id', 'zone_id', name='uq_zone_managers_user_zone')
    )
    with op.batch_alter_table('zone_managers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zone_managers_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_zone_managers_zone_id'), ['zone_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Transfers are append-only: no deletes, and the only column that may
        # change is reversed_fen (bounded by its CHECK), so history cannot be edited.
        op.execute("""
            CREATE FUNCTION transfers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    RAISE EXCEPTION 'transfers are append-only (reverse a transfer instead)';
                END IF;
                IF (NEW.id, NEW.code, NEW.debit_account_id, NEW.credit_account_id, NEW.amount_fen,
                    NEW.batch_id, NEW.reverses_id, NEW.memo, NEW.actor_user_id, NEW.created_at)
                   IS DISTINCT FROM
                   (OLD.id, OLD.code, OLD.debit_account_id, OLD.credit_account_id, OLD.amount_fen,
                    OLD.batch_id, OLD.reverses_id, OLD.memo, OLD.actor_user_id, OLD.created_at) THEN
                    RAISE EXCEPTION 'transfers are append-only (reverse a transfer instead)';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
                FOR EACH ROW EXECUTE FUNCTION transfers_append_only();
        """)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS transfers_append_only ON transfers")
        op.execute("DROP FUNCTION IF EXISTS transfers_append_only()")
    with op.batch_alter_table('zone_managers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zone_managers_zone_id'))
        batch_op.drop_index(batch_op.f('ix_zone_managers_user_id'))

    op.drop_table('zone_managers')
    with op.batch_alter_table('wallets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wallets_id_number_hash'))

    op.drop_table('wallets')
    with op.batch_alter_table('merchants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_merchants_owner_user_id'))
        batch_op.drop_index(batch_op.f('ix_merchants_bank_id'))

    op.drop_table('merchants')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))

    op.drop_table('idempotency_keys')
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_tokens_user_id'))

    op.drop_table('auth_tokens')
    op.drop_table('users')
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transfers_reverses_id'))
        batch_op.drop_index('ix_transfers_debit_account_id_id')
        batch_op.drop_index('ix_transfers_credit_account_id_id')
        batch_op.drop_index(batch_op.f('ix_transfers_batch_id'))

    op.drop_table('transfers')
    op.drop_table('operator_banks')
    op.drop_table('zones')
    op.drop_table('accounts')
