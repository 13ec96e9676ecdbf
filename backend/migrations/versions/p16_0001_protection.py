"""protection: freezes, the platform switch, incidents and their timeline, the append-only audit log

Revision ID: p16_0001
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = 'p16_0001'
down_revision = '0003'
branch_labels = ('protection',)
depends_on = None


def upgrade():
    op.create_table('protection_incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('bank_id', sa.Integer(), nullable=True),
    sa.Column('opened_by_user_id', sa.Integer(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('contained_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('detected', 'contained', 'resolved')", name=op.f('ck_protection_incidents_status_known')),
    sa.CheckConstraint("severity IN ('low', 'medium', 'high', 'critical')", name=op.f('ck_protection_incidents_severity_known')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'], name=op.f('fk_protection_incidents_bank_id_operator_banks')),
    sa.ForeignKeyConstraint(['opened_by_user_id'], ['users.id'], name=op.f('fk_protection_incidents_opened_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_incidents'))
    )
    op.create_table('protection_incident_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['protection_incidents.id'], name=op.f('fk_protection_incident_events_incident_id_protection_incidents')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_protection_incident_events_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_incident_events'))
    )
    op.create_index(op.f('ix_protection_incident_events_incident_id'), 'protection_incident_events', ['incident_id'])
    op.create_table('protection_freezes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_kind', sa.String(length=10), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('bank_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('frozen_by_user_id', sa.Integer(), nullable=False),
    sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lifted_by_user_id', sa.Integer(), nullable=True),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lift_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("target_kind IN ('wallet', 'merchant', 'device')", name=op.f('ck_protection_freezes_target_known')),
    sa.CheckConstraint('(lifted_at IS NULL) = (lifted_by_user_id IS NULL)', name=op.f('ck_protection_freezes_lift_has_who')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_protection_freezes_user_id_users')),
    sa.ForeignKeyConstraint(['bank_id'], ['operator_banks.id'], name=op.f('fk_protection_freezes_bank_id_operator_banks')),
    sa.ForeignKeyConstraint(['incident_id'], ['protection_incidents.id'], name=op.f('fk_protection_freezes_incident_id_protection_incidents')),
    sa.ForeignKeyConstraint(['frozen_by_user_id'], ['users.id'], name=op.f('fk_protection_freezes_frozen_by_user_id_users')),
    sa.ForeignKeyConstraint(['lifted_by_user_id'], ['users.id'], name=op.f('fk_protection_freezes_lifted_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_freezes'))
    )
    op.create_index('uq_protection_freezes_active', 'protection_freezes', ['target_kind', 'target_id'], unique=True,
                    postgresql_where=sa.text('lifted_at IS NULL'), sqlite_where=sa.text('lifted_at IS NULL'))
    op.create_index('ix_protection_freezes_user_active', 'protection_freezes', ['user_id'],
                    postgresql_where=sa.text('lifted_at IS NULL'), sqlite_where=sa.text('lifted_at IS NULL'))
    op.create_table('protection_platform',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('read_only', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_by_user_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_protection_platform_single_row')),
    sa.ForeignKeyConstraint(['changed_by_user_id'], ['users.id'], name=op.f('fk_protection_platform_changed_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_platform'))
    )
    op.create_table('protection_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target_kind', sa.String(length=20), nullable=True),
    sa.Column('target_id', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protection_audit'))
    )
    op.create_index(op.f('ix_protection_audit_at'), 'protection_audit', ['at'])
    op.create_index(op.f('ix_protection_audit_actor_user_id'), 'protection_audit', ['actor_user_id'])
    op.create_index(op.f('ix_protection_audit_action'), 'protection_audit', ['action'])
    if op.get_bind().dialect.name == 'postgresql':
        # The audit log takes INSERTs only: UPDATE and DELETE raise, even for the app's own role.
        op.execute("""
            CREATE OR REPLACE FUNCTION protection_audit_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'protection_audit is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER protection_audit_append_only BEFORE UPDATE OR DELETE ON protection_audit
            FOR EACH ROW EXECUTE FUNCTION protection_audit_append_only()
        """)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS protection_audit_append_only ON protection_audit')
        op.execute('DROP FUNCTION IF EXISTS protection_audit_append_only()')
    op.drop_table('protection_audit')
    op.drop_table('protection_platform')
    op.drop_index('ix_protection_freezes_user_active', table_name='protection_freezes')
    op.drop_index('uq_protection_freezes_active', table_name='protection_freezes')
    op.drop_table('protection_freezes')
    op.drop_index(op.f('ix_protection_incident_events_incident_id'), table_name='protection_incident_events')
    op.drop_table('protection_incident_events')
    op.drop_table('protection_incidents')
