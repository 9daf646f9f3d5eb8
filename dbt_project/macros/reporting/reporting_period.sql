{% macro reporting_period(period, time_column) -%}
    {#- The calendar day, week (starting Monday) or month a timestamp falls in, in the operator's
        reporting_timezone, as a date. -#}
    {%- if period == 'day' -%}
        (({{ time_column }}) at time zone '{{ var("reporting_timezone") }}')::date
    {%- else -%}
        date_trunc('{{ period }}', ({{ time_column }}) at time zone '{{ var("reporting_timezone") }}')::date
    {%- endif -%}
{%- endmacro %}
