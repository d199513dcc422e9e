import pytest

from shifter_slurm.options import Request
from shifter_slurm.prolog import request_from_env, setup_root_argv, unsetup_root_argv
from shifter_slurm.slurmquery import JobInfo, parse_show_job

pytestmark = pytest.mark.unit


def test_request_from_prolog_environment():
    env = {"SPANK_SHIFTER_IMAGE": "f00d", "SPANK_SHIFTER_IMAGETYPE": "id", "SPANK_SHIFTER_VOLUME": "/a:/b",
           "SPANK_SHIFTER_MODULE": "m", "SPANK_SHIFTER_SSH_PUBKEY": "ssh-ed25519 K", "SHIFTER_IMAGE": "ignored"}
    req, key = request_from_env(env)
    assert req == Request("id", "f00d", "/a:/b", "m", False)
    assert key == "ssh-ed25519 K"


def test_setup_root_arguments_in_upstream_order():
    argv = setup_root_argv(
        "/opt/shifter", "/etc/shifter/udiRoot.conf", Request("id", "f00d", "/a:/b;/c:/d:ro", "m1,m2"),
        uid=1001, gid=1002, user="alice", node_spec="n1/2 n2/2",
    )
    assert argv == ["/opt/shifter/bin/setupRoot", "-U", "1001", "-G", "1002", "-u", "alice",
                    "-N", "n1/2 n2/2", "-v", "/a:/b", "-v", "/c:/d:ro",
                    "-m", "m1,m2", "id", "f00d"]


def test_non_default_config_is_passed():
    argv = setup_root_argv("/p", "/x/udiRoot.conf", Request("local", "/"), uid=5, gid=5, user="u",
                           node_spec="h/1")
    assert argv[:3] == ["/p/bin/setupRoot", "-c", "/x/udiRoot.conf"]
    assert argv[-2:] == ["local", "/"]
    assert unsetup_root_argv("/p", "/x/udiRoot.conf") == ["/p/bin/unsetupRoot", "-c", "/x/udiRoot.conf"]
    assert unsetup_root_argv("/p", "/etc/shifter/udiRoot.conf") == ["/p/bin/unsetupRoot"]


def test_show_job_parsing_and_node_spec():
    line = ("JobId=12 JobName=wrap UserId=alice(1001) NodeList=n[1-3] NumNodes=3 NumCPUs=6 "
            "NumTasks=3 OverSubscribe=NO Command=(null)")
    fields = parse_show_job(line)
    assert (fields["NodeList"], fields["NumCPUs"], fields["OverSubscribe"]) == ("n[1-3]", "6", "NO")
    job = JobInfo(12, ("n1", "n2", "n3"), 6, True)
    assert job.node_spec() == "n1/2 n2/2 n3/2"


def test_tasks_per_node_is_at_least_one():
    assert JobInfo(1, ("a", "b"), 1, False).tasks_per_node == 1
