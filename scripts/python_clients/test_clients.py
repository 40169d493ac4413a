"""Real cloud client libraries against `idgate imds` (run by scripts/test-python-clients.sh).

The emulators are located through the same environment variables the libraries read on a
real VM (AWS_EC2_METADATA_SERVICE_ENDPOINT, GCE_METADATA_HOST, GCE_METADATA_IP), plus:

  IDGATE_IMDS_AWS_DROP_URL   an AWS emulator started with --drop-token-puts
  IDGATE_IMDS_GCP_URL        the GCP emulator's base URL (for its key endpoints)
  EXPECT_AWS_INSTANCE_ID, EXPECT_AWS_REGION, EXPECT_AWS_ACCOUNT_ID, EXPECT_GCP_INSTANCE_ID
                             the identity the emulators were started with

Prints one line per test and finally exactly "N passed, M failed"; exits 1 on any failure.
"""

import os
import sys
import time
import traceback

import requests

AWS_URL = os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
AWS_DROP_URL = os.environ["IDGATE_IMDS_AWS_DROP_URL"]
GCP_URL = os.environ["IDGATE_IMDS_GCP_URL"]
AWS_INSTANCE_ID = os.environ["EXPECT_AWS_INSTANCE_ID"]
AWS_REGION = os.environ["EXPECT_AWS_REGION"]
AWS_ACCOUNT_ID = os.environ["EXPECT_AWS_ACCOUNT_ID"]
GCP_INSTANCE_ID = os.environ["EXPECT_GCP_INSTANCE_ID"]
AUDIENCE = "coder"


# ---------------------------------------------------------------------------------------------
# AWS: botocore


def botocore_fetcher(endpoint=None, timeout=2):
    """botocore's own IMDS client, configured the way a botocore session configures it."""
    import botocore.session
    from botocore.utils import InstanceMetadataFetcher

    session = botocore.session.get_session()
    if endpoint is None:
        # Read from AWS_EC2_METADATA_SERVICE_ENDPOINT by botocore's config chain.
        endpoint = session.get_config_variable("ec2_metadata_service_endpoint")
    return InstanceMetadataFetcher(
        timeout=timeout,
        num_attempts=1,
        config={
            "ec2_metadata_service_endpoint": endpoint,
            "ec2_metadata_v1_disabled": True,
        },
    )


def test_botocore_reads_the_endpoint_from_the_environment():
    import botocore.session

    session = botocore.session.get_session()
    assert session.get_config_variable("ec2_metadata_service_endpoint") == AWS_URL


def test_botocore_gets_a_token_and_reads_the_instance_id():
    fetcher = botocore_fetcher()
    assert fetcher.get_base_url() == AWS_URL
    token = fetcher._fetch_metadata_token()
    assert token, "no IMDSv2 token"
    response = fetcher._get_request("latest/meta-data/instance-id", None, token)
    assert response.status_code == 200, response.status_code
    assert response.text == AWS_INSTANCE_ID, response.text


def test_botocore_reads_without_a_token_are_refused():
    fetcher = botocore_fetcher()
    # Let botocore send an IMDSv1 request (no token) to see the service's answer.
    fetcher._imds_v1_disabled = False
    response = fetcher._get_request(
        "latest/meta-data/instance-id", lambda response: False, None
    )
    assert response.status_code == 401, response.status_code


def test_botocore_region_fetcher():
    from botocore.utils import InstanceMetadataRegionFetcher

    fetcher = InstanceMetadataRegionFetcher(
        timeout=2,
        num_attempts=1,
        config={"ec2_metadata_service_endpoint": AWS_URL},
    )
    assert fetcher.retrieve_region() == AWS_REGION


def test_botocore_gives_up_on_a_token_request_that_is_never_answered():
    fetcher = botocore_fetcher(endpoint=AWS_DROP_URL, timeout=1)
    started = time.monotonic()
    token = fetcher._fetch_metadata_token()
    elapsed = time.monotonic() - started
    # botocore treats a token timeout as "no IMDSv2" (the hop-limit symptom).
    assert token is None, token
    assert 0.9 <= elapsed < 10, elapsed


# ---------------------------------------------------------------------------------------------
# AWS: ec2-metadata


class ToEmulator(requests.adapters.HTTPAdapter):
    """Sends what ec2-metadata addresses to 169.254.169.254 to the emulator instead, so the
    library runs unchanged, with its own URLs."""

    def __init__(self, base_url):
        super().__init__()
        self.base_url = base_url

    def send(self, request, **kwargs):
        request.url = request.url.replace("http://169.254.169.254", self.base_url, 1)
        return super().send(request, **kwargs)


def test_ec2_metadata_reads_the_identity_document():
    from ec2_metadata import EC2Metadata

    session = requests.Session()
    session.trust_env = False
    session.mount("http://169.254.169.254/", ToEmulator(AWS_URL))
    metadata = EC2Metadata(session=session)
    assert metadata.instance_id == AWS_INSTANCE_ID, metadata.instance_id
    assert metadata.region == AWS_REGION, metadata.region
    assert metadata.account_id == AWS_ACCOUNT_ID, metadata.account_id
    assert metadata.availability_zone == AWS_REGION + "a", metadata.availability_zone
    document = metadata.instance_identity_document
    assert document["instanceId"] == AWS_INSTANCE_ID


# ---------------------------------------------------------------------------------------------
# GCP: google-auth


def google_request():
    import google.auth.transport.requests

    session = requests.Session()
    session.trust_env = False
    return google.auth.transport.requests.Request(session=session)


def test_google_auth_ping_finds_the_metadata_server():
    from google.auth.compute_engine import _metadata

    assert _metadata.ping(google_request(), timeout=2, retry_count=1) is True


def test_google_auth_is_on_gce():
    from google.auth.compute_engine import _metadata

    # What google.auth.default() asks before it uses Compute Engine credentials.
    assert _metadata.is_on_gce(google_request()) is True


def test_google_auth_reads_the_instance_id():
    from google.auth.compute_engine import _metadata

    assert _metadata.get(google_request(), "instance/id") == GCP_INSTANCE_ID
    assert _metadata.get_project_id(google_request()) == "idgate-py"


def fetch_id_token():
    from google.auth import compute_engine

    request = google_request()
    credentials = compute_engine.IDTokenCredentials(
        request, AUDIENCE, use_metadata_identity_endpoint=True
    )
    credentials.refresh(request)
    return credentials.token


def test_id_token_verifies_for_its_audience_with_the_emulators_certificates():
    from google.oauth2 import id_token

    token = fetch_id_token()
    claims = id_token.verify_token(
        token, google_request(), audience=AUDIENCE, certs_url=GCP_URL + "/idgate/gcp/certs"
    )
    assert claims["aud"] == AUDIENCE
    assert claims["iss"] == "https://accounts.google.com"
    engine = claims["google"]["compute_engine"]
    assert engine["instance_id"] == GCP_INSTANCE_ID, engine
    assert engine["project_id"] == "idgate-py", engine


def test_id_token_is_rejected_for_another_audience():
    from google.oauth2 import id_token

    token = fetch_id_token()
    try:
        id_token.verify_token(
            token,
            google_request(),
            audience="https://somebody-else.example",
            certs_url=GCP_URL + "/idgate/gcp/certs",
        )
    except ValueError as error:
        assert "audience" in str(error).lower(), error
    else:
        raise AssertionError("a token for another audience was accepted")


def test_direct_metadata_call_without_the_flavor_header_is_refused():
    response = requests.get(
        GCP_URL + "/computeMetadata/v1/instance/id", timeout=5, proxies={"http": None}
    )
    assert response.status_code == 403, response.status_code
    assert response.headers.get("Metadata-Flavor") == "Google"


# ---------------------------------------------------------------------------------------------


def main():
    tests = [
        (name, function)
        for name, function in globals().items()
        if name.startswith("test_") and callable(function)
    ]
    passed = failed = 0
    for name, function in tests:
        try:
            function()
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
