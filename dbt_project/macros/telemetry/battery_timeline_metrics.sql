{% macro battery_timeline_metrics() -%}
    {#- The metrics the battery timeline (int_battery_samples) is built from, as a SQL list of
        literals: the one list every model and macro filters on. A metric with a new role in the
        timeline is a var in dbt_project.yml and a name here. -#}
    (
        '{{ var("soc_metric_name") }}', '{{ var("battery_power_metric_name") }}',
        '{{ var("battery_import_metric_name") }}', '{{ var("battery_export_metric_name") }}'
    )
{%- endmacro %}
