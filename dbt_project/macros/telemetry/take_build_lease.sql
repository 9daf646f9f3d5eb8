{% macro take_build_lease(by_loader) -%}
    {#- One statement: this invocation takes the lease when it is free, its own, dead (not renewed for
        var build_lease_timeout) or, for a `loader build` (by_loader, which holds the build lock), left
        behind by another `loader build`; returns a row only if it did. -#}
    insert into {{ build_lease_relation() }} as lease
        (lease_key, invocation_id, command, by_loader, started_at, renewed_at)
    values (1, '{{ invocation_id }}', '{{ flags.WHICH }}', {{ by_loader }}, now(), now())
    on conflict (lease_key) do update set
        invocation_id = excluded.invocation_id,
        command = excluded.command,
        by_loader = excluded.by_loader,
        started_at = excluded.started_at,
        renewed_at = excluded.renewed_at
    where
        lease.invocation_id = excluded.invocation_id
        or lease.renewed_at < now() - interval '{{ var("build_lease_timeout") }}'
        or (excluded.by_loader and lease.by_loader)
    returning invocation_id
{%- endmacro %}
