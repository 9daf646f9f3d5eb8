-- Inputs the loader could not land as they were.
select
    quarantined_at,
    source_uri,
    disposition,
    reason,
    size_bytes
from dq_quarantined_responses
order by quarantined_at desc
limit 200
