//! One test per rule the reader models, each from a few lines of configuration.

use super::*;

/// `location → addresses` for every location of the first server.
fn by_location(conf: &str) -> Vec<(String, Vec<String>)> {
    let config = Config::parse(conf);
    assert!(config.errors.is_empty(), "{:?}", config.errors);
    config
        .report()
        .into_iter()
        .map(|r| {
            (
                r.location.map_or_else(|| r.server.label(), |l| l.label()),
                r.targets.into_iter().map(|t| t.address).collect(),
            )
        })
        .collect()
}

fn addresses(conf: &str, location: &str) -> Vec<String> {
    by_location(conf)
        .into_iter()
        .find(|(l, _)| l == location)
        .unwrap_or_else(|| panic!("no location {location}"))
        .1
}

#[test]
fn each_location_sees_only_its_own_set() {
    let conf = "server {\n\
        location /w { set $backend http://write.app.svc:3100; proxy_pass $backend$request_uri; }\n\
        location /r { set $backend http://read.app.svc:3100; proxy_pass $backend$request_uri; }\n\
        location /x { proxy_pass $backend$request_uri; }\n\
        }";
    assert_eq!(addresses(conf, "/w"), ["http://write.app.svc:3100"]);
    assert_eq!(addresses(conf, "/r"), ["http://read.app.svc:3100"]);
    // Written by other locations' `set` only: empty here, so nothing is proxied.
    assert!(addresses(conf, "/x").is_empty());
}

#[test]
fn a_server_set_runs_before_the_location_and_a_location_set_overrides_it() {
    let conf = "server {\n\
        set $backend http://default.app.svc;\n\
        set $port 8080;\n\
        location /a { proxy_pass $backend:$port; }\n\
        location /b { set $backend http://other.app.svc; proxy_pass $backend:$port; }\n\
        location /c { proxy_pass $backend:$port; set $backend http://late.app.svc; }\n\
        }";
    assert_eq!(addresses(conf, "/a"), ["http://default.app.svc:8080"]);
    assert_eq!(addresses(conf, "/b"), ["http://other.app.svc:8080"]);
    // `set` runs in the rewrite phase, before the proxy: order in the block does not matter.
    assert_eq!(addresses(conf, "/c"), ["http://late.app.svc:8080"]);
}

#[test]
fn an_if_may_or_may_not_set_and_a_matching_if_proxies_with_its_own_pass() {
    let conf = "server {\n\
        location /a {\n\
          set $b http://one.app.svc;\n\
          if ($http_x_route = two) { set $b http://two.app.svc; }\n\
          proxy_pass $b;\n\
        }\n\
        location /b {\n\
          if ($arg_debug) { proxy_pass http://debug.app.svc:9000; }\n\
          proxy_pass http://main.app.svc:9000;\n\
        }\n\
        location /c { if ($request_method = POST) { return 405; } proxy_pass http://c.app.svc; }\n\
        }";
    assert_eq!(
        addresses(conf, "/a"),
        ["http://one.app.svc", "http://two.app.svc"]
    );
    assert_eq!(
        addresses(conf, "/b"),
        ["http://debug.app.svc:9000", "http://main.app.svc:9000"]
    );
    assert_eq!(addresses(conf, "/c"), ["http://c.app.svc"]);
}

#[test]
fn a_server_return_or_break_before_the_locations() {
    let always =
        "server { return 301 https://example.org; location / { proxy_pass http://a.app.svc; } }";
    assert!(addresses(always, "/").is_empty());
    let sometimes = "server { if ($bad) { return 400; } set $x http://a.app.svc; break; set $x http://b.app.svc; location / { proxy_pass $x; } }";
    assert_eq!(addresses(sometimes, "/"), ["http://a.app.svc"]);
}

#[test]
fn a_map_is_any_of_its_values_with_the_empty_default_when_it_has_none() {
    let conf = "http {\n\
        map $http_x_tenant $pool {\n\
          hostnames;\n\
          default   http://shared.app.svc;\n\
          team-a    http://a.app.svc;\n\
          ~^team-b  http://b.app.svc;\n\
        }\n\
        map $http_x_canary $canary { yes http://canary.app.svc; }\n\
        server {\n\
          location /p { proxy_pass $pool:8080; }\n\
          location /c { proxy_pass $canary:8080$request_uri; }\n\
        }\n\
        }";
    assert_eq!(
        addresses(conf, "/p"),
        [
            "http://a.app.svc:8080",
            "http://b.app.svc:8080",
            "http://shared.app.svc:8080"
        ]
    );
    // No default: the empty value gives no address (nginx answers 500), the other one does.
    assert_eq!(addresses(conf, "/c"), ["http://canary.app.svc:8080"]);
}

#[test]
fn a_map_value_may_use_variables_and_a_set_overrides_a_map() {
    let conf = "map $http_x $svc { default $fallback; a alpha; }\n\
        server {\n\
          set $fallback beta;\n\
          location /m { proxy_pass http://$svc.app.svc; }\n\
          location /s { set $svc gamma; proxy_pass http://$svc.app.svc; }\n\
        }";
    assert_eq!(
        addresses(conf, "/m"),
        ["http://alpha.app.svc", "http://beta.app.svc"]
    );
    assert_eq!(addresses(conf, "/s"), ["http://gamma.app.svc"]);
}

#[test]
fn geo_and_split_clients_are_any_of_their_values() {
    let conf = "http {\n\
        geo $remote_addr $zone { default http://a.app.svc; 10.0.0.0/8 http://b.app.svc; }\n\
        split_clients \"${remote_addr}\" $variant { 50% http://c.app.svc; * http://d.app.svc; }\n\
        server {\n\
          location /geo { proxy_pass $zone; }\n\
          location /split { proxy_pass $variant; }\n\
        }\n\
        }";
    assert_eq!(
        addresses(conf, "/geo"),
        ["http://a.app.svc", "http://b.app.svc"]
    );
    assert_eq!(
        addresses(conf, "/split"),
        ["http://c.app.svc", "http://d.app.svc"]
    );
}

#[test]
fn limit_except_may_proxy_elsewhere_and_nested_locations_do_not_inherit_a_pass() {
    let conf = "server {\n\
        location /api/ {\n\
          limit_except GET { proxy_pass http://writer.app.svc; }\n\
          proxy_pass http://reader.app.svc;\n\
          location /api/static/ { root /srv; }\n\
        }\n\
        }";
    assert_eq!(
        addresses(conf, "/api/"),
        ["http://reader.app.svc", "http://writer.app.svc"]
    );
    assert!(addresses(conf, "/api/static/").is_empty());
}

#[test]
fn upstream_names_are_blocks_not_dns_names() {
    let conf = "upstream pool {\n\
          server a.app.svc:8080;\n\
          server b.app.svc weight=2;\n\
          server unix:/run/x.sock;\n\
        }\n\
        server {\n\
          location /static { proxy_pass http://pool; }\n\
          location /var { set $u pool; proxy_pass http://$u$request_uri; }\n\
          location /port { set $u pool; proxy_pass http://$u:8080; }\n\
        }";
    assert_eq!(
        addresses(conf, "/static"),
        ["a.app.svc:8080", "b.app.svc:80"]
    );
    assert_eq!(addresses(conf, "/var"), ["a.app.svc:8080", "b.app.svc:80"]);
    // With a port, a variable's host is looked up in DNS, not among the upstream blocks.
    assert_eq!(addresses(conf, "/port"), ["http://pool:8080"]);
}

#[test]
fn braced_variables_and_every_pass_directive() {
    let conf = "server {\n\
        set $ns app;\n\
        location /h { proxy_pass http://${ns}-gw.${ns}.svc:80/x; }\n\
        location /g { grpc_pass grpc://grpc.$ns.svc:9095; }\n\
        location /g2 { grpc_pass grpc.app.svc:9095; }\n\
        location /f { fastcgi_pass php.app.svc:9000; }\n\
        location /u { uwsgi_pass uwsgi://py.app.svc:3031; }\n\
        location /s { fastcgi_pass unix:/run/php.sock; }\n\
        }";
    assert_eq!(addresses(conf, "/h"), ["http://app-gw.app.svc:80"]);
    assert_eq!(addresses(conf, "/g"), ["grpc://grpc.app.svc:9095"]);
    assert_eq!(addresses(conf, "/g2"), ["grpc.app.svc:9095"]);
    assert_eq!(addresses(conf, "/f"), ["php.app.svc:9000"]);
    assert_eq!(addresses(conf, "/u"), ["uwsgi://py.app.svc:3031"]);
    assert!(addresses(conf, "/s").is_empty());
}

#[test]
fn a_literal_rewrite_last_continues_in_the_location_it_routes_to() {
    let conf = "server {\n\
        location /old { rewrite ^ /new last; }\n\
        location /new { proxy_pass http://new.app.svc; }\n\
        location /dyn { rewrite ^/dyn/(.*)$ /$1 last; proxy_pass http://dyn.app.svc; }\n\
        location /moved { rewrite ^ https://example.org/ permanent; proxy_pass http://gone.app.svc; }\n\
        }";
    assert_eq!(addresses(conf, "/old"), ["http://new.app.svc"]);
    let config = Config::parse(conf);
    let dyn_loc = config
        .report()
        .into_iter()
        .find(|r| r.location.is_some_and(|l| l.path == "/dyn"))
        .expect("location");
    // The rewrite may not match (then /dyn proxies), or send the request elsewhere.
    assert_eq!(dyn_loc.targets.len(), 1);
    assert!(dyn_loc.rewritten_elsewhere);
    assert!(addresses(conf, "/moved").is_empty());
}

#[test]
fn try_files_and_error_page_hand_requests_to_named_locations() {
    let conf = "server {\n\
        location / { try_files $uri $uri/ @app; }\n\
        location @app { proxy_pass http://app.app.svc:8080; }\n\
        }";
    assert_eq!(addresses(conf, "/"), ["http://app.app.svc:8080"]);
}

#[test]
fn stream_servers_proxy_from_the_server_block() {
    let conf = "stream {\n\
        upstream dns { server kube-dns.kube-system.svc:53; }\n\
        server { listen 5353 udp; proxy_pass dns; }\n\
        server { listen 6379; proxy_pass redis.app.svc:6379; }\n\
        }";
    let config = Config::parse(conf);
    let all: Vec<Vec<String>> = config
        .report()
        .into_iter()
        .map(|r| r.targets.into_iter().map(|t| t.address).collect())
        .collect();
    assert_eq!(
        all,
        [
            vec!["kube-dns.kube-system.svc:53"],
            vec!["redis.app.svc:6379"]
        ]
    );
}

#[test]
fn includes_are_read_in_place() {
    let main = "http { include /etc/nginx/conf.d/*.conf; }";
    let config = Config::parse_with_includes(main, &|pattern| {
        if pattern == "/etc/nginx/conf.d/*.conf" {
            vec!["server { location / { proxy_pass http://inc.app.svc; } }".to_string()]
        } else {
            Vec::new()
        }
    });
    assert_eq!(config.report()[0].targets[0].address, "http://inc.app.svc");
}

#[test]
fn an_include_reads_the_configmap_keys_its_glob_names() {
    let files: BTreeMap<String, String> = [
        ("nginx.conf", "http { include /etc/nginx/conf.d/*.conf; }"),
        (
            "a.conf",
            "server { location /a { proxy_pass http://a.app.svc; } }",
        ),
        (
            "b.conf",
            "server { location /b { proxy_pass http://b.app.svc; } }",
        ),
        ("readme.txt", "not nginx"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::parse_with_includes(&files["nginx.conf"], &|p| included(&files, p));
    let got: Vec<String> = uses(&config).into_iter().map(|u| u.address).collect();
    assert_eq!(got, ["http://a.app.svc", "http://b.app.svc"]);
    assert!(included_by_another(&files, &files["a.conf"]));
    assert!(!included_by_another(&files, &files["nginx.conf"]));
    assert!(glob("*.conf", "x.conf") && glob("a?c", "abc") && !glob("*.conf", "x.txt"));
}

#[test]
fn uses_are_per_location_at_the_pass_line_with_the_line_of_the_value() {
    let conf = "server {\n\
        location /a {\n\
          set $b http://svc.app.svc.cluster.local;\n\
          proxy_pass $b:3100;\n\
        }\n\
        location /b {\n\
          set $b http://svc.app.svc.cluster.local;\n\
          proxy_pass $b:3100;\n\
        }\n\
        }\n\
        upstream u { server up.app.svc:80; }\n";
    let got = uses(&Config::parse(conf));
    let shown: Vec<(String, usize, String, Option<usize>, bool)> = got
        .into_iter()
        .map(|u| (u.address, u.line, u.context, u.value_line, u.per_request))
        .collect();
    assert_eq!(
        shown,
        [
            (
                "http://svc.app.svc.cluster.local:3100".into(),
                4,
                "location /a".into(),
                Some(3),
                true
            ),
            (
                "http://svc.app.svc.cluster.local:3100".into(),
                8,
                "location /b".into(),
                Some(7),
                true
            ),
            ("up.app.svc:80".into(), 11, "upstream u".into(), None, false),
        ]
    );
}

#[test]
fn a_static_pass_no_request_reaches_is_still_resolved_at_startup() {
    let conf = "server { return 200; location / { proxy_pass http://boot.app.svc:80; } }";
    let got = uses(&Config::parse(conf));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].address, "http://boot.app.svc:80");
    assert!(!got[0].per_request);
}

#[test]
fn yaml_and_prose_are_not_nginx() {
    assert!(is_nginx(
        "server {\n  location / { proxy_pass http://a; }\n}\n"
    ));
    assert!(!is_nginx("server:\n  http_listen_port: 3100\n"));
    assert!(!is_nginx("see the location of the server"));
}
