{% macro reporting_period_start(period_date) -%}
    {#- The instant a reporting period (a date from reporting_period) begins, in reporting_timezone. -#}
    (({{ period_date }})::timestamp at time zone '{{ var("reporting_timezone") }}')
{%- endmacro %}
