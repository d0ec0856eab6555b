"""Each event keeps the W3C traceparent of the span that appended it (es_event.trace_context),
so whoever applies it, in any process and at any later time, joins or links to that trace;
es_append() writes it from the events' JSON."""

from importlib import import_module

from django.db import migrations, models

CREATE = r"""
CREATE OR REPLACE FUNCTION es_append(
    p_stream_id text, p_stream_type text, p_expected integer, p_events jsonb, p_topic text,
    p_claims jsonb, p_releases jsonb, p_snapshot jsonb
) RETURNS SETOF bigint AS $$
DECLARE
    v_new integer := p_expected + jsonb_array_length(p_events);
    v_actual integer;
    v_claim jsonb;
    v_holder text;
BEGIN
    IF p_expected = 0 THEN
        INSERT INTO es_stream (stream_id, stream_type, version)
        VALUES (p_stream_id, p_stream_type, v_new) ON CONFLICT (stream_id) DO NOTHING;
    ELSE
        UPDATE es_stream SET version = v_new
        WHERE stream_id = p_stream_id AND version = p_expected;
    END IF;
    IF NOT FOUND THEN
        SELECT version INTO v_actual FROM es_stream WHERE stream_id = p_stream_id;
        RAISE EXCEPTION 'stream % is at version %, not %', p_stream_id,
            coalesce(v_actual, 0), p_expected
            USING ERRCODE = 'ES001', DETAIL = coalesce(v_actual, 0)::text;
    END IF;

    -- (The loops only when there is something to loop over: an empty one still costs a query.)
    IF jsonb_array_length(p_releases) > 0 THEN
        FOR v_claim IN SELECT * FROM jsonb_array_elements(p_releases) LOOP
            DELETE FROM es_reservation WHERE scope = v_claim->>0 AND value = v_claim->>1
                AND stream_id = p_stream_id;
        END LOOP;
    END IF;
    IF jsonb_array_length(p_claims) > 0 THEN
        FOR v_claim IN SELECT * FROM jsonb_array_elements(p_claims) LOOP
            INSERT INTO es_reservation (scope, value, stream_id, created_at)
            VALUES (v_claim->>0, v_claim->>1, p_stream_id, now())
            ON CONFLICT (scope, value) DO NOTHING;
            IF NOT FOUND THEN
                SELECT stream_id INTO v_holder FROM es_reservation
                WHERE scope = v_claim->>0 AND value = v_claim->>1;
                IF v_holder IS DISTINCT FROM p_stream_id THEN
                    RAISE EXCEPTION '% % is already taken', v_claim->>0, v_claim->>1
                        USING ERRCODE = 'ES002', DETAIL = v_holder;
                END IF;
            END IF;
        END LOOP;
    END IF;

    IF p_snapshot IS NOT NULL THEN
        INSERT INTO es_snapshot (stream_id, stream_type, version, schema_version, state, created_at)
        VALUES (p_stream_id, p_stream_type, (p_snapshot->>'version')::integer,
                (p_snapshot->>'schema_version')::smallint, p_snapshot->'state', now())
        ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version,
            schema_version = EXCLUDED.schema_version, state = EXCLUDED.state, created_at = now()
        WHERE es_snapshot.version < EXCLUDED.version;
    END IF;

    RETURN QUERY
    WITH inserted AS (
        INSERT INTO es_event (event_id, stream_id, stream_type, stream_version, event_type,
                              schema_version, occurred_at, recorded_at, actor, correlation_id,
                              causation_id, trace_context, payload)
        SELECT x.event_id, p_stream_id, p_stream_type, x.stream_version, x.event_type,
               x.schema_version, x.occurred_at, now(), x.actor, x.correlation_id,
               x.causation_id, x.trace_context, x.payload
        FROM jsonb_to_recordset(p_events) AS x(
            event_id uuid, stream_version integer, event_type text, schema_version smallint,
            occurred_at timestamptz, actor text, correlation_id uuid, causation_id uuid,
            trace_context text, payload jsonb)
        ORDER BY x.stream_version
        RETURNING position
    ), outbox AS (
        INSERT INTO es_outbox (event_position, topic)
        SELECT position, p_topic FROM inserted ORDER BY position
    )
    SELECT position FROM inserted ORDER BY position;

    PERFORM pg_notify('es_outbox', '');
END
$$ LANGUAGE plpgsql;
"""

PREVIOUS = import_module("eventstore.migrations.0007_es_append_skip_empty_loops").CREATE


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0007_es_append_skip_empty_loops")]
    operations = [
        migrations.AddField(
            model_name="storedevent",
            name="trace_context",
            field=models.TextField(null=True),
        ),
        migrations.RunSQL(CREATE, PREVIOUS),
    ]
