"""Recommendation quality of multi-stage funnels: RecPipe's NDCG and the standard ranking
metrics, synthetic data calibrated to RecPipe's published points and the funnel run with the
accelerator's filter rules (:mod:`.metrics`), MovieLens-100K (:mod:`.movielens`), and
bring-your-own score files (:mod:`.files`)."""
