#!/usr/bin/env python3
"""translate-template.py TEMPLATE - the SAM template as plain CloudFormation JSON on stdout,
translated offline by samtranslator (what `sam validate` and `sam deploy` use), as `sam package`
would hand it over: the code at an S3 URI, a region and an account. Run it with the aws-tools
venv: `infra/aws-tools.sh python infra/translate-template.py template.yaml`."""
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class NoManagedPolicies:
    """The policy templates the template uses are SAM's own; no AWS managed policy is looked up."""

    def load(self):
        return {}


template = yaml_parse(open(sys.argv[1]).read())
template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://nzj-build/functions.zip"
parameters = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
json.dump(transform(template, parameters, NoManagedPolicies()), sys.stdout, indent=1, default=str)
