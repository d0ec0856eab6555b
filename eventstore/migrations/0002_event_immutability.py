from django.db import migrations

FORBID = """
CREATE OR REPLACE FUNCTION es_event_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'es_event is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER es_event_no_update_delete BEFORE UPDATE OR DELETE ON es_event
    FOR EACH ROW EXECUTE FUNCTION es_event_immutable();
"""

ALLOW = """
DROP TRIGGER IF EXISTS es_event_no_update_delete ON es_event;
DROP FUNCTION IF EXISTS es_event_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0001_initial")]
    operations = [migrations.RunSQL(FORBID, ALLOW)]
