"""payouts: the org-staff role, corporate and payout-batch accounts, organisations, members, payee
preferences, batches and lines, public-fund transfers between organisations

The CHECKs listing the known roles and account kinds are rebuilt from the code's lists
(``Role.ALL``, ``AccountKind.ALL``), not from literals: other plug-in branches extend the same
lists, and whichever of them runs last must not drop the others' values.

Revision ID: p14_0001
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = 'p14_0001'
down_revision = '0003'
branch_labels = ('payouts',)
depends_on = None


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

    op.create_table('payout_orgs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('uscc', sa.String(length=18), nullable=False),
    sa.Column('district', sa.String(length=20), nullable=True),
    sa.Column('member_unit', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('wallet_number', sa.String(length=16), nullable=False),
    sa.Column('bank_account_token', sa.String(length=64), nullable=False),
    sa.Column('bank_account_masked', sa.String(length=24), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('department', 'soe', 'other')", name=op.f('ck_payout_orgs_kind_known')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_payout_orgs_account_id_accounts')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'], name=op.f('fk_payout_orgs_bank_id_operator_banks')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_payout_orgs_created_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_orgs')),
    sa.UniqueConstraint('account_id', name=op.f('uq_payout_orgs_account_id')),
    sa.UniqueConstraint('uscc', name=op.f('uq_payout_orgs_uscc')),
    sa.UniqueConstraint('wallet_number', name=op.f('uq_payout_orgs_wallet_number'))
    )
    op.create_table('payout_payee_prefs',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('overflow_to_bank', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payout_payee_prefs_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_payout_payee_prefs'))
    )
    op.create_table('payout_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('file_name', sa.String(length=120), nullable=True),
    sa.Column('file_format', sa.String(length=8), nullable=False),
    sa.Column('file_encoding', sa.String(length=12), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('line_count', sa.Integer(), nullable=False),
    sa.Column('valid_count', sa.Integer(), nullable=False),
    sa.Column('total_fen', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reserve_transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('returned_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('return_transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_user_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejected_by_user_id', sa.Integer(), nullable=True),
    sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reject_reason', sa.String(length=200), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('validated', 'rejected') OR account_id IS NOT NULL", name=op.f('ck_payout_batches_reserved_has_account')),
    sa.CheckConstraint("status IN ('validated', 'rejected', 'processing', 'review', 'closed')", name=op.f('ck_payout_batches_status_known')),
    sa.CheckConstraint('approved_by_user_id IS NULL OR approved_by_user_id <> created_by_user_id', name=op.f('ck_payout_batches_maker_is_not_checker')),
    sa.CheckConstraint('total_fen >= 0 AND returned_fen >= 0', name=op.f('ck_payout_batches_amounts_not_negative')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_payout_batches_account_id_accounts')),
    sa.ForeignKeyConstraint(['approved_by_user_id'], ['users.id'], name=op.f('fk_payout_batches_approved_by_user_id_users')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_payout_batches_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['org_id'], ['payout_orgs.id'], name=op.f('fk_payout_batches_org_id_payout_orgs')),
    sa.ForeignKeyConstraint(['rejected_by_user_id'], ['users.id'], name=op.f('fk_payout_batches_rejected_by_user_id_users')),
    sa.ForeignKeyConstraint(['reserve_transfer_id'], ['transfers.id'], name=op.f('fk_payout_batches_reserve_transfer_id_transfers')),
    sa.ForeignKeyConstraint(['return_transfer_id'], ['transfers.id'], name=op.f('fk_payout_batches_return_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_batches')),
    sa.UniqueConstraint('account_id', name=op.f('uq_payout_batches_account_id')),
    sa.UniqueConstraint('org_id', 'reference', name='uq_payout_batches_org_reference')
    )
    with op.batch_alter_table('payout_batches', schema=None) as batch_op:
        batch_op.create_index('ix_payout_batches_org_id_id', ['org_id', 'id'], unique=False)

    op.create_table('payout_org_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('officer', 'approver')", name=op.f('ck_payout_org_members_role_known')),
    sa.ForeignKeyConstraint(['org_id'], ['payout_orgs.id'], name=op.f('fk_payout_org_members_org_id_payout_orgs')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_payout_org_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_org_members')),
    sa.UniqueConstraint('org_id', 'user_id', name='uq_payout_org_members_org_user')
    )
    with op.batch_alter_table('payout_org_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payout_org_members_user_id'), ['user_id'], unique=False)

    op.create_table('payout_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('payee_name', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('memo', sa.String(length=140), nullable=True),
    sa.Column('payee_user_id', sa.Integer(), nullable=True),
    sa.Column('wallet_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('issue', sa.String(length=32), nullable=True),
    sa.Column('issue_detail', sa.String(length=200), nullable=True),
    sa.Column('warning', sa.String(length=32), nullable=True),
    sa.Column('holder_masked', sa.String(length=64), nullable=True),
    sa.Column('wallet_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('bank_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('bank_transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('bank_reference', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("category IN ('salary', 'allowance', 'subsidy', 'reimbursement')", name=op.f('ck_payout_lines_category_known')),
    sa.CheckConstraint("status <> 'paid' OR wallet_fen + bank_fen = amount_fen", name=op.f('ck_payout_lines_paid_in_full')),
    sa.CheckConstraint("status IN ('invalid', 'pending', 'paid', 'failed', 'cancelled')", name=op.f('ck_payout_lines_status_known')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_payout_lines_amount_positive')),
    sa.CheckConstraint('wallet_fen >= 0 AND bank_fen >= 0', name=op.f('ck_payout_lines_parts_not_negative')),
    sa.ForeignKeyConstraint(['bank_transfer_id'], ['transfers.id'], name=op.f('fk_payout_lines_bank_transfer_id_transfers')),
    sa.ForeignKeyConstraint(['batch_id'], ['payout_batches.id'], name=op.f('fk_payout_lines_batch_id_payout_batches')),
    sa.ForeignKeyConstraint(['payee_user_id'], ['users.id'], name=op.f('fk_payout_lines_payee_user_id_users')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_payout_lines_transfer_id_transfers')),
    sa.ForeignKeyConstraint(['wallet_id'], ['wallets.id'], name=op.f('fk_payout_lines_wallet_id_wallets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_lines')),
    sa.UniqueConstraint('batch_id', 'line_no', name='uq_payout_lines_batch_line_no')
    )
    with op.batch_alter_table('payout_lines', schema=None) as batch_op:
        batch_op.create_index('ix_payout_lines_batch_id_status_id', ['batch_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_payout_lines_payee_user_id_id', ['payee_user_id', 'id'], unique=False)


    purposes = ('appropriation', 'special_fund', 'subsidy_transfer', 'service_settlement', 'refund', 'other')
    op.create_table('payout_fund_transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('from_org_id', sa.Integer(), nullable=False),
    sa.Column('to_org_id', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('purpose_code', sa.String(length=24), nullable=False),
    sa.Column('memo', sa.String(length=140), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by_user_id', sa.Integer(), nullable=True),
    sa.Column('rejected_by_user_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reject_reason', sa.String(length=200), nullable=True),
    sa.Column('transfer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint('from_org_id <> to_org_id', name=op.f('ck_payout_fund_transfers_distinct_orgs')),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_payout_fund_transfers_amount_positive')),
    sa.CheckConstraint(_in('purpose_code', purposes), name=op.f('ck_payout_fund_transfers_purpose_known')),
    sa.CheckConstraint("status IN ('pending', 'executed', 'rejected')",
                       name=op.f('ck_payout_fund_transfers_status_known')),
    sa.CheckConstraint('approved_by_user_id IS NULL OR approved_by_user_id <> created_by_user_id',
                       name=op.f('ck_payout_fund_transfers_maker_is_not_checker')),
    sa.CheckConstraint("status <> 'executed' OR transfer_id IS NOT NULL",
                       name=op.f('ck_payout_fund_transfers_executed_has_transfer')),
    sa.ForeignKeyConstraint(['from_org_id'], ['payout_orgs.id'],
                            name=op.f('fk_payout_fund_transfers_from_org_id_payout_orgs')),
    sa.ForeignKeyConstraint(['to_org_id'], ['payout_orgs.id'], name=op.f('fk_payout_fund_transfers_to_org_id_payout_orgs')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'],
                            name=op.f('fk_payout_fund_transfers_created_by_user_id_users')),
    sa.ForeignKeyConstraint(['approved_by_user_id'], ['users.id'],
                            name=op.f('fk_payout_fund_transfers_approved_by_user_id_users')),
    sa.ForeignKeyConstraint(['rejected_by_user_id'], ['users.id'],
                            name=op.f('fk_payout_fund_transfers_rejected_by_user_id_users')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_payout_fund_transfers_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_fund_transfers'))
    )
    with op.batch_alter_table('payout_fund_transfers', schema=None) as batch_op:
        batch_op.create_index('ix_payout_fund_transfers_from_org_id_id', ['from_org_id', 'id'], unique=False)
        batch_op.create_index('ix_payout_fund_transfers_to_org_id_id', ['to_org_id', 'id'], unique=False)

    # At most one wallet leg and one bank leg per payout line (payouts/models.py explains).
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index('uq_transfers_payout_line_leg', ['batch_id', 'code'], unique=True,
                              postgresql_where=sa.text("code IN ('payout', 'payout_to_bank')"),
                              sqlite_where=sa.text("code IN ('payout', 'payout_to_bank')"))


def downgrade():
    from backend.auth.models import Role
    from backend.ledger.models import AccountKind

    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('uq_transfers_payout_line_leg')
    op.drop_table('payout_fund_transfers')
    with op.batch_alter_table('payout_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_payout_lines_payee_user_id_id')
        batch_op.drop_index('ix_payout_lines_batch_id_status_id')

    op.drop_table('payout_lines')
    with op.batch_alter_table('payout_org_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payout_org_members_user_id'))

    op.drop_table('payout_org_members')
    with op.batch_alter_table('payout_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_payout_batches_org_id_id')

    op.drop_table('payout_batches')
    op.drop_table('payout_payee_prefs')
    op.drop_table('payout_orgs')
    _replace_check('accounts', 'ck_accounts_kind_known', _in('kind', [
        k for k in AccountKind.ALL if k not in (AccountKind.CORPORATE, AccountKind.PAYOUT)]))
    _replace_check('users', 'ck_users_role_known', _in('role', [r for r in Role.ALL if r != Role.ORG_STAFF]))
