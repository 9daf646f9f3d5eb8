{% macro timescaledb_allow_decompression(rows_meeting_compressed_batches) -%}
    {#- One statement, to run in the same transaction as a write into a hypertable: raises
        timescaledb.max_tuples_decompressed_per_dml_transaction, for that transaction only, to what the
        write can decompress. A row written at or before its series' newest row may meet a compressed
        batch (at most 1,000 rows, TimescaleDB's batch size), which TimescaleDB decompresses to check
        the unique key; a row after it meets none. `rows_meeting_compressed_batches` is a query
        counting the former. The server's own limit stays the floor, and 0 (unlimited) stays 0. -#}
    select set_config(
        'timescaledb.max_tuples_decompressed_per_dml_transaction',
        case
            when current_setting('timescaledb.max_tuples_decompressed_per_dml_transaction')::bigint = 0 then '0'
            else least(
                2147483647,
                greatest(
                    current_setting('timescaledb.max_tuples_decompressed_per_dml_transaction')::bigint,
                    1000 * ({{ rows_meeting_compressed_batches }})
                )
            )::text
        end,
        true
    )
{%- endmacro %}
