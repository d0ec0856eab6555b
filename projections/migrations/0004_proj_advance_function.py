"""proj_advance(projection, topic, partition, expected, next): move a checkpoint from `expected`
to `next` (creating it when `expected` is 0), or raise SQLSTATE PJ001 if it is not at
`expected`. A raise, unlike an UPDATE that matched no row, aborts the rest of a pipelined
transaction: a batch's checkpoint move, its read-model writes and its COMMIT go to the server in
one round trip (projections.targets.PostgresTarget)."""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION proj_advance(
    p_projection text, p_topic text, p_partition integer, p_expected bigint, p_next bigint
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Moving the checkpoint takes its row lock: a concurrent runner waits here, then finds the
    -- offset moved.
    UPDATE proj_checkpoint SET next_offset = p_next, updated_at = now()
    WHERE projection = p_projection AND topic = p_topic AND partition = p_partition
        AND next_offset = p_expected;
    IF FOUND THEN
        RETURN;
    END IF;
    IF p_expected = 0 THEN
        INSERT INTO proj_checkpoint (projection, topic, partition, next_offset, updated_at)
        VALUES (p_projection, p_topic, p_partition, p_next, now()) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION 'the checkpoint of % on %[%] is not at %',
        p_projection, p_topic, p_partition, p_expected
        USING ERRCODE = 'PJ001';
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS proj_advance(text, text, integer, bigint, bigint);"


class Migration(migrations.Migration):
    dependencies = [("projections", "0003_side_effects")]

    operations = [migrations.RunSQL(CREATE, DROP)]
