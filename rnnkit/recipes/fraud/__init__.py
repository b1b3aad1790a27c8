"""Credit-card fraud, one transaction at a time: recipe.py (the contract), data.py (the ULB file, the split
by time), metrics.py (AUPRC, ROC-AUC, recall at a false-positive rate), baselines.py (scikit-learn's)."""
