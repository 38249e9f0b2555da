"""Builds AWS-side test scenarios in a moto server (an independent EC2/STS implementation).

  scenario.py serve PORT                 run moto on 127.0.0.1:PORT until the parent exits
  scenario.py build URL [options]        create a VPC, subnet, security group and interface
                                         endpoint; print their ids as JSON

moto quirks this works with (AWS behaves differently; the daemon follows AWS):
  - an interface endpoint's ENI gets a private IP outside its subnet;
  - security groups are not enforced, and unknown group ids in rules are accepted.
"""
import argparse
import json
import os
import sys
import time


def serve(port):
    from moto.server import ThreadedMotoServer

    parent = os.getppid()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    # Exit with the test process, even if it is killed: no moto left behind.
    while os.getppid() == parent:
        time.sleep(0.5)
    server.stop()


def clients(url, region, role_arn):
    import boto3

    creds = dict(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    if role_arn:
        sts = boto3.client("sts", endpoint_url=url, region_name=region, **creds)
        c = sts.assume_role(RoleArn=role_arn, RoleSessionName="scenario")["Credentials"]
        creds = dict(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )
    return boto3.client("ec2", endpoint_url=url, region_name=region, **creds)


def build(a):
    ec2 = clients(a.url, a.region, a.role_arn)
    vpc = ec2.create_vpc(CidrBlock=a.vpc_cidr)["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=a.subnet_cidr)["Subnet"]
    sg = ec2.create_security_group(GroupName=f"datasync-{time.time_ns()}", Description="endpoint", VpcId=vpc["VpcId"])
    perms = []
    for rule in a.rule:
        proto, ports, cidr = rule.split(":")
        lo, _, hi = ports.partition("-")
        perm = {"IpProtocol": proto, "IpRanges": [{"CidrIp": cidr}]}
        if proto != "-1":
            perm.update(FromPort=int(lo), ToPort=int(hi or lo))
        perms.append(perm)
    if perms:
        ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=perms)
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc["VpcId"],
        ServiceName=f"com.amazonaws.{a.region}.{a.service}",
        VpcEndpointType="Interface",
        SubnetIds=[] if a.no_subnets else [subnet["SubnetId"]],
        SecurityGroupIds=[sg["GroupId"]],
    )["VpcEndpoint"]
    enis = ep["NetworkInterfaceIds"]
    eni = ec2.describe_network_interfaces(NetworkInterfaceIds=enis)["NetworkInterfaces"][0] if enis else {}
    # Each extra interface takes one address: how a test makes a subnet nearly full.
    for _ in range(a.fill):
        ec2.create_network_interface(SubnetId=subnet["SubnetId"])
    owner = vpc["OwnerId"]
    json.dump(
        {
            "account": owner,
            "vpc_id": vpc["VpcId"],
            "subnet_id": subnet["SubnetId"],
            "subnet_arn": subnet["SubnetArn"],
            "sg_id": sg["GroupId"],
            "sg_arn": f"arn:aws:ec2:{a.region}:{owner}:security-group/{sg['GroupId']}",
            "vpce_id": ep["VpcEndpointId"],
            "eni_ip": eni.get("PrivateIpAddress"),
            "free_ips": ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]["AvailableIpAddressCount"],
        },
        sys.stdout,
    )


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("port", type=int)
    b = sub.add_parser("build")
    b.add_argument("url")
    b.add_argument("--region", default="us-east-1")
    b.add_argument("--role-arn")
    b.add_argument("--service", default="datasync")
    b.add_argument("--vpc-cidr", default="10.20.0.0/16")
    b.add_argument("--subnet-cidr", default="10.20.1.0/24")
    b.add_argument("--rule", action="append", default=[], help="proto:from-to:cidr, e.g. tcp:1024-1064:0.0.0.0/0")
    b.add_argument("--fill", type=int, default=0, help="extra interfaces to create in the subnet")
    b.add_argument("--no-subnets", action="store_true", help="an endpoint in no subnet: no network interface")
    a = p.parse_args()
    serve(a.port) if a.cmd == "serve" else build(a)


if __name__ == "__main__":
    main()
