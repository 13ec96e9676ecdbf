"""prepaid: the industry-regulator role, prepaid escrow accounts, prepaid merchants, regulators, rules,
plans, contracts, releases and closure runs

The CHECKs listing the known roles and account kinds are rebuilt from the code's lists
(``Role.ALL``, ``AccountKind.ALL``), not from literals: other plug-in branches extend the same
lists, and whichever of them runs last must not drop the others' values.

Revision ID: p13_0001
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = 'p13_0001'
down_revision = '0003'
branch_labels = ('prepaid',)
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
INDUSTRIES = ('sports_fitness', 'education_training', 'beauty', 'laundry', 'others')


def _in(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _replace_check(table, name, condition):
    """Swap the CHECK ``name`` of ``table`` for ``condition``; on PostgreSQL validated after the swap, so
    the table is locked exclusively only for the catalog change, not for the scan."""
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f(name), table, type_='check')
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID')
        op.execute(f'ALTER TABLE {table} VALIDATE CONSTRAINT {name}')
    else:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
            batch_op.create_check_constraint(op.f(name), sa.text(condition))


def upgrade():
    from backend.auth.models import Role
    from backend.ledger.models import AccountKind

    _replace_check('users', 'ck_users_role_known', _in('role', Role.ALL))
    _replace_check('accounts', 'ck_accounts_kind_known', _in('kind', AccountKind.ALL))

    op.create_table('prepaid_merchants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('industry', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('applied_by_user_id', sa.Integer(), nullable=False),
    sa.Column('reviewed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(_in('industry', INDUSTRIES), name=op.f('ck_prepaid_merchants_industry_known')),
    sa.CheckConstraint(_in('status', ('pending', 'approved', 'rejected', 'suspended', 'closed')),
                       name=op.f('ck_prepaid_merchants_status_known')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_prepaid_merchants_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['applied_by_user_id'], ['users.id'],
                            name=op.f('fk_prepaid_merchants_applied_by_user_id_users')),
    sa.ForeignKeyConstraint(['reviewed_by_user_id'], ['users.id'],
                            name=op.f('fk_prepaid_merchants_reviewed_by_user_id_users')),
    sa.ForeignKeyConstraint(['status_changed_by_user_id'], ['users.id'],
                            name=op.f('fk_prepaid_merchants_status_changed_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_merchants')),
    sa.UniqueConstraint('merchant_id', name=op.f('uq_prepaid_merchants_merchant_id'))
    )
    with op.batch_alter_table('prepaid_merchants') as batch_op:
        batch_op.create_index(batch_op.f('ix_prepaid_merchants_industry'), ['industry'], unique=False)

    op.create_table('prepaid_regulators',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('authority', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_prepaid_regulators_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_prepaid_regulators'))
    )
    op.create_table('prepaid_regulator_industries',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('industry', sa.String(length=24), nullable=False),
    sa.CheckConstraint(_in('industry', INDUSTRIES), name=op.f('ck_prepaid_regulator_industries_industry_known')),
    sa.ForeignKeyConstraint(['user_id'], ['prepaid_regulators.user_id'],
                            name=op.f('fk_prepaid_regulator_industries_user_id_prepaid_regulators')),
    sa.PrimaryKeyConstraint('user_id', 'industry', name=op.f('pk_prepaid_regulator_industries'))
    )
    op.create_table('prepaid_rules',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('updated_by_user_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('value >= 0', name=op.f('ck_prepaid_rules_value_not_negative')),
    sa.ForeignKeyConstraint(['updated_by_user_id'], ['users.id'], name=op.f('fk_prepaid_rules_updated_by_user_id_users')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_prepaid_rules'))
    )
    op.create_table('prepaid_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prepaid_merchant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('price_fen', sa.BigInteger(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('unit_price_fen', sa.BigInteger(), nullable=True),
    sa.Column('bonus_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('months', sa.Integer(), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=False),
    sa.Column('cooling_off_days', sa.Integer(), nullable=False),
    sa.Column('refund_fee_bp', sa.Integer(), server_default='0', nullable=False),
    sa.Column('split_json', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(_in('kind', ('sessions', 'stored_value', 'time_pass')), name=op.f('ck_prepaid_plans_kind_known')),
    sa.CheckConstraint(_in('status', ('active', 'withdrawn')), name=op.f('ck_prepaid_plans_status_known')),
    sa.CheckConstraint('price_fen > 0 AND units > 0', name=op.f('ck_prepaid_plans_price_units_positive')),
    sa.CheckConstraint("kind <> 'sessions' OR price_fen = units * unit_price_fen",
                       name=op.f('ck_prepaid_plans_sessions_priced')),
    sa.CheckConstraint("kind <> 'stored_value' OR units = price_fen + bonus_fen",
                       name=op.f('ck_prepaid_plans_value_is_price_and_bonus')),
    sa.CheckConstraint('bonus_fen >= 0', name=op.f('ck_prepaid_plans_bonus_not_negative')),
    sa.CheckConstraint('refund_fee_bp BETWEEN 0 AND 10000', name=op.f('ck_prepaid_plans_fee_bounded')),
    sa.CheckConstraint('cooling_off_days >= 0 AND valid_days > 0', name=op.f('ck_prepaid_plans_periods_sane')),
    sa.ForeignKeyConstraint(['prepaid_merchant_id'], ['prepaid_merchants.id'],
                            name=op.f('fk_prepaid_plans_prepaid_merchant_id_prepaid_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_plans'))
    )
    with op.batch_alter_table('prepaid_plans') as batch_op:
        batch_op.create_index(batch_op.f('ix_prepaid_plans_prepaid_merchant_id'), ['prepaid_merchant_id'], unique=False)

    op.create_table('prepaid_closures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prepaid_merchant_id', sa.Integer(), nullable=False),
    sa.Column('target_status', sa.String(length=12), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by_user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('counted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('refunded', sa.Integer(), server_default='0', nullable=False),
    sa.Column('refunded_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('runs', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in('status', ('running', 'done')), name=op.f('ck_prepaid_closures_status_known')),
    sa.CheckConstraint('counted >= 0 AND refunded >= 0 AND failed >= 0',
                       name=op.f('ck_prepaid_closures_progress_not_negative')),
    sa.ForeignKeyConstraint(['prepaid_merchant_id'], ['prepaid_merchants.id'],
                            name=op.f('fk_prepaid_closures_prepaid_merchant_id_prepaid_merchants')),
    sa.ForeignKeyConstraint(['requested_by_user_id'], ['users.id'],
                            name=op.f('fk_prepaid_closures_requested_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_closures'))
    )
    with op.batch_alter_table('prepaid_closures') as batch_op:
        batch_op.create_index(batch_op.f('ix_prepaid_closures_prepaid_merchant_id'), ['prepaid_merchant_id'],
                              unique=False)

    op.create_table('prepaid_contracts',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('prepaid_merchant_id', sa.Integer(), nullable=False),
    sa.Column('merchant_id', sa.Integer(), nullable=False),
    sa.Column('consumer_user_id', sa.Integer(), nullable=False),
    sa.Column('wallet_account_id', BIGINT, nullable=False),
    sa.Column('escrow_account_id', BIGINT, nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('price_fen', sa.BigInteger(), nullable=False),
    sa.Column('units_total', sa.BigInteger(), nullable=False),
    sa.Column('units_left', sa.BigInteger(), nullable=False),
    sa.Column('refund_fee_bp', sa.Integer(), nullable=False),
    sa.Column('cooling_off_ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('terms_json', sa.Text(), nullable=False),
    sa.Column('terms_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('purchase_transfer_id', BIGINT, nullable=False),
    sa.Column('refund_kind', sa.String(length=12), nullable=True),
    sa.Column('refunded_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('fee_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refund_batch_id', sa.String(length=36), nullable=True),
    sa.Column('closure_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in('status', ('active', 'completed', 'refunded')), name=op.f('ck_prepaid_contracts_status_known')),
    sa.CheckConstraint('price_fen > 0 AND units_total > 0', name=op.f('ck_prepaid_contracts_price_units_positive')),
    sa.CheckConstraint('units_left >= 0 AND units_left <= units_total',
                       name=op.f('ck_prepaid_contracts_units_left_bounded')),
    sa.CheckConstraint("status = 'active' OR units_left = 0", name=op.f('ck_prepaid_contracts_ended_has_nothing_left')),
    sa.CheckConstraint("refund_kind IS NULL OR " + _in('refund_kind', ('cooling_off', 'late', 'closure')),
                       name=op.f('ck_prepaid_contracts_refund_kind_known')),
    sa.CheckConstraint("(status = 'refunded') = (refund_kind IS NOT NULL)",
                       name=op.f('ck_prepaid_contracts_refunded_has_kind')),
    sa.CheckConstraint('refunded_fen >= 0 AND fee_fen >= 0', name=op.f('ck_prepaid_contracts_refund_not_negative')),
    sa.ForeignKeyConstraint(['plan_id'], ['prepaid_plans.id'], name=op.f('fk_prepaid_contracts_plan_id_prepaid_plans')),
    sa.ForeignKeyConstraint(['prepaid_merchant_id'], ['prepaid_merchants.id'],
                            name=op.f('fk_prepaid_contracts_prepaid_merchant_id_prepaid_merchants')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_prepaid_contracts_merchant_id_merchants')),
    sa.ForeignKeyConstraint(['consumer_user_id'], ['users.id'], name=op.f('fk_prepaid_contracts_consumer_user_id_users')),
    sa.ForeignKeyConstraint(['wallet_account_id'], ['accounts.id'],
                            name=op.f('fk_prepaid_contracts_wallet_account_id_accounts')),
    sa.ForeignKeyConstraint(['escrow_account_id'], ['accounts.id'],
                            name=op.f('fk_prepaid_contracts_escrow_account_id_accounts')),
    sa.ForeignKeyConstraint(['purchase_transfer_id'], ['transfers.id'],
                            name=op.f('fk_prepaid_contracts_purchase_transfer_id_transfers')),
    sa.ForeignKeyConstraint(['closure_id'], ['prepaid_closures.id'],
                            name=op.f('fk_prepaid_contracts_closure_id_prepaid_closures')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_contracts')),
    sa.UniqueConstraint('number', name=op.f('uq_prepaid_contracts_number')),
    sa.UniqueConstraint('code', name=op.f('uq_prepaid_contracts_code')),
    sa.UniqueConstraint('escrow_account_id', name=op.f('uq_prepaid_contracts_escrow_account_id'))
    )
    with op.batch_alter_table('prepaid_contracts') as batch_op:
        batch_op.create_index(batch_op.f('ix_prepaid_contracts_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prepaid_contracts_consumer_user_id'), ['consumer_user_id'], unique=False)
        batch_op.create_index('ix_prepaid_contracts_merchant_status', ['prepaid_merchant_id', 'status'], unique=False)

    op.create_table('prepaid_releases',
    sa.Column('id', BIGINT, nullable=False),
    sa.Column('contract_id', BIGINT, nullable=False),
    sa.Column('prepaid_merchant_id', sa.Integer(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('units_left_after', sa.BigInteger(), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('via', sa.String(length=6), nullable=False),
    sa.Column('released_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('units > 0 AND amount_fen >= 0', name=op.f('ck_prepaid_releases_units_positive')),
    sa.CheckConstraint(_in('via', ('scan', 'time')), name=op.f('ck_prepaid_releases_via_known')),
    sa.ForeignKeyConstraint(['contract_id'], ['prepaid_contracts.id'],
                            name=op.f('fk_prepaid_releases_contract_id_prepaid_contracts')),
    sa.ForeignKeyConstraint(['prepaid_merchant_id'], ['prepaid_merchants.id'],
                            name=op.f('fk_prepaid_releases_prepaid_merchant_id_prepaid_merchants')),
    sa.ForeignKeyConstraint(['released_by_user_id'], ['users.id'],
                            name=op.f('fk_prepaid_releases_released_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prepaid_releases'))
    )
    with op.batch_alter_table('prepaid_releases') as batch_op:
        batch_op.create_index('ix_prepaid_releases_contract_id', ['contract_id'], unique=False)
        batch_op.create_index('ix_prepaid_releases_merchant_created_at', ['prepaid_merchant_id', 'created_at'],
                              unique=False)


def downgrade():
    from backend.auth.models import Role
    from backend.ledger.models import AccountKind

    op.drop_table('prepaid_releases')
    op.drop_table('prepaid_contracts')
    op.drop_table('prepaid_closures')
    op.drop_table('prepaid_plans')
    op.drop_table('prepaid_rules')
    op.drop_table('prepaid_regulator_industries')
    op.drop_table('prepaid_regulators')
    op.drop_table('prepaid_merchants')
    _replace_check('accounts', 'ck_accounts_kind_known',
                   _in('kind', [k for k in AccountKind.ALL if k != AccountKind.PREPAID]))
    _replace_check('users', 'ck_users_role_known', _in('role', [r for r in Role.ALL if r != Role.INDUSTRY_REGULATOR]))
