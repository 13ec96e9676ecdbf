// The staff roles that use the console: one list, read by the shell's routes and by the log-in page.
export const BANK = 'bank_reviewer';
export const ZONE = 'zone_manager';
export const OFFICE = 'pilot_admin';
export const REGULATOR = 'industry_regulator';
export const ORG = 'org_staff';
export const STAFF_ROLES = [BANK, ZONE, OFFICE, REGULATOR, ORG];
