//! What FleetFlow's spelling means is what FleetFlow does with it (issue 20, Deliver 4): a
//! fleet written the FleetFlow way — `version`, `ports { }` with `host_ip`, `environment { }`,
//! `volumes { }` with `read_only`, a one-string command with quotes, and a stage overriding the
//! environment — migrated with `fleet migrate`, then run for real on the test world's docker:
//! the same image, ports, volumes, environment and stage override reach the containers.

mod support;

use std::path::Path;

use support::{Cleanup, run_ok, test_world};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fleet(dir: &Path, docker_config: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fleet"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("CI", "true")
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("FLEET_REGISTRY_PATH")
        .env_remove("FLEET_IMAGE_REGISTRY")
        .args(args);
    run_ok(&mut cmd)
}

fn inspect(container: &str, format: &str) -> String {
    let out = run_ok(std::process::Command::new("docker").args(["inspect", "--format", format, container]));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_migrated_fleetflow_fleet_runs_with_its_image_ports_volumes_environment_and_stage_overrides() {
    let world = test_world();
    let cleanup = Cleanup::project(&world, "ffdeploy");
    let project = cleanup.project.clone();
    let (image, tag) = world.base_image.rsplit_once(':').expect("name:tag");
    let (local_port, live_port) = (free_port(), free_port());
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    std::fs::create_dir_all(root.join(".fleetflow")).unwrap();
    std::fs::create_dir_all(root.join("conf")).unwrap();
    std::fs::write(root.join("conf/motd"), "read only\n").unwrap();
    let kdl = format!(
        r#"// FleetFlow's spelling, as its users write it (in its older file name).
project "{project}"

service "web" {{
    image "{image}"
    version "{tag}"
    command "sh -c 'echo $GREETING > /data/greeting; trap \"exit 0\" TERM; while :; do sleep 1; done'"
    ports {{
        port host={local_port} container=8080 host_ip="127.0.0.1"
    }}
    environment {{
        GREETING "hello"
    }}
    volumes {{
        volume "./data" "/data"
        volume "./conf" "/conf" read_only=#true
    }}
}}

stage "local" {{
    service "web"
}}

stage "live" {{
    service "web" {{
        ports {{
            port host={live_port} container=8080 host_ip="127.0.0.1"
        }}
        environment {{
            GREETING "from live"
        }}
    }}
}}
"#
    );
    std::fs::write(root.join(".fleetflow/flow.kdl"), kdl).unwrap();
    fleet(root, &world.docker_config, &["migrate", "--yes"]);
    assert!(root.join("fleet-registry.kdl").exists() && root.join(".fleetflow/fleet.kdl").exists());

    for (stage, port, greeting) in [("local", local_port, "hello"), ("live", live_port, "from live")] {
        fleet(root, &world.docker_config, &["up", stage]);
        let container = format!("{project}-{stage}-web");
        assert_eq!(
            inspect(&container, "{{.Config.Image}}"),
            world.base_image,
            "{stage}: image:version"
        );
        assert_eq!(
            inspect(&container, "{{json .HostConfig.PortBindings}}"),
            format!(r#"{{"8080/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{port}"}}]}}"#),
            "{stage}: the port, on host_ip"
        );
        let env = inspect(&container, "{{json .Config.Env}}");
        assert!(env.contains(&format!("\"GREETING={greeting}\"")), "{stage}: {env}");
        let args = inspect(&container, "{{json .Config.Cmd}}");
        assert!(
            args.starts_with(r#"["sh","-c","echo $GREETING > /data/greeting; trap \"exit 0\" TERM;"#),
            "{stage}: {args}"
        );
        let mounts = inspect(&container, "{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}");
        assert!(
            mounts.contains("/data=true") && mounts.contains("/conf=false"),
            "{stage}: {mounts}"
        );
        // The command ran with the environment, into the bind-mounted directory.
        let file = root.join("data/greeting");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::read_to_string(&file).map_or(true, |t| t.trim() != greeting) {
            assert!(
                std::time::Instant::now() < deadline,
                "{stage}: {:?}",
                std::fs::read_to_string(&file)
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        fleet(root, &world.docker_config, &["down", stage, "--remove"]);
    }
    assert!(world.running(&project).is_empty());
}
