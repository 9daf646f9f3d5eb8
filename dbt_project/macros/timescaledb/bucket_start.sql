{% macro bucket_start(bucket_width, time_column) -%}
    {#- Start of the time bucket a timestamp falls in: TimescaleDB's time_bucket, or date_bin on plain
        PostgreSQL with time_bucket's default origin (Monday 2000-01-03), so both give the same buckets. -#}
    {%- if is_timescaledb() -%}
        time_bucket(interval '{{ bucket_width }}', {{ time_column }})
    {%- else -%}
        date_bin(interval '{{ bucket_width }}', {{ time_column }}, timestamptz '2000-01-03 00:00:00+00')
    {%- endif -%}
{%- endmacro %}
