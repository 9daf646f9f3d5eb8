"""What the tests and the benchmarks both use: throwaway database servers, running dbt as a user does,
the alerting stack, the degradation ground truth, and the vendor API and object storage served on loopback."""
