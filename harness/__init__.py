"""What the tests and the benchmarks both use: throwaway database servers, running dbt as a user does,
the alerting stack, and the degradation ground truth."""
