#!/usr/bin/env python3
"""boto3_poll.py ENDPOINT_URL REGION AGENT_ARN INTERVAL_S POLLS: the strongest Python peer of the
daemon's monitoring loop (bench/report.py). One warm boto3 client, configured like the daemon's
SDK client (src/aws/sdk.rs: connect 3.1 s, attempt 20 s, standard retries of 3 attempts; the
credentials from the default chain, here the environment), polls DescribeAgent POLLS times at
the daemon's pace. The report reads this process's CPU from schedstat once it is warm."""
import sys
import time

import boto3
from botocore.config import Config

url, region, arn, interval, polls = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
client = boto3.client("datasync", region_name=region, endpoint_url=url,
                      config=Config(connect_timeout=3.1, read_timeout=20,
                                    retries={"mode": "standard", "max_attempts": 3}))
for _ in range(polls):
    client.describe_agent(AgentArn=arn)
    time.sleep(interval)
