#!/bin/sh
# Registers both job definitions and submits an 8-shard array job, then the clustering job that
# waits for every child of the array (AWS Batch sets AWS_BATCH_JOB_ARRAY_INDEX in each child).
# Usage: QUEUE=my-gpu-queue sh submit.sh   (after filling in BUCKET, RUN, ACCOUNT, REGION, TAG)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${QUEUE:?set QUEUE to a GPU job queue}"
aws batch register-job-definition --cli-input-json "file://$here/embed-job-definition.json" >/dev/null
aws batch register-job-definition --cli-input-json "file://$here/cluster-job-definition.json" >/dev/null
embed=$(aws batch submit-job --job-name newsclust-embed --job-queue "$QUEUE" \
  --job-definition newsclust-embed --array-properties size=8 \
  --parameters shards=8 --query jobId --output text)
aws batch submit-job --job-name newsclust-cluster --job-queue "$QUEUE" \
  --job-definition newsclust-cluster --depends-on "jobId=$embed" --query jobId --output text
