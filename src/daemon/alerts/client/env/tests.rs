use super::*;

fn env(vars: &[(&str, &str)]) -> ProxyEnv {
    ProxyEnv::from_pairs(vars)
}

#[test]
fn lowercase_wins_and_all_proxy_is_the_fallback() {
    let e = env(&[
        ("https_proxy", "http://lower:1"),
        ("HTTPS_PROXY", "http://upper:2"),
        ("HTTP_PROXY", "http://upper-http:3"),
        ("ALL_PROXY", "http://all:4"),
    ]);
    assert_eq!(
        e.describe(),
        "https:// via http://lower:1 (https_proxy); http:// via http://upper-http:3 (HTTP_PROXY)"
    );
    let m = e.matcher();
    let via = |u: &str| {
        m.intercept(&u.parse().unwrap())
            .map(|i| i.uri().to_string())
    };
    assert_eq!(
        via("https://hooks.example/x").as_deref(),
        Some("http://lower:1/")
    );
    assert_eq!(
        via("http://hooks.example/x").as_deref(),
        Some("http://upper-http:3/")
    );

    // An empty lowercase variable does not mask the uppercase one; ALL_PROXY fills the gap.
    let e = env(&[
        ("https_proxy", " "),
        ("HTTPS_PROXY", "http://upper:2"),
        ("all_proxy", "http://all:4"),
    ]);
    assert_eq!(
        e.describe(),
        "https:// via http://upper:2 (HTTPS_PROXY); http:// via http://all:4 (all_proxy)"
    );
    assert_eq!(env(&[]), ProxyEnv::default());
    assert_eq!(env(&[]).describe(), "https:// direct; http:// direct");
}

#[test]
fn http_proxy_is_ignored_under_cgi_and_socks_is_refused() {
    let cgi = env(&[
        ("REQUEST_METHOD", "GET"),
        ("HTTP_PROXY", "http://attacker:80"),
        ("HTTPS_PROXY", "http://proxy:3128"),
    ]);
    assert_eq!(
        cgi.describe(),
        "https:// via http://proxy:3128 (HTTPS_PROXY); http:// direct"
    );
    let cgi = env(&[("REQUEST_METHOD", "GET"), ("http_proxy", "http://p:1")]);
    assert!(
        cgi.describe()
            .contains("http:// via http://p:1 (http_proxy)")
    );

    let socks = env(&[
        ("HTTPS_PROXY", "socks5://user:pw@proxy:1080"),
        ("ALL_PROXY", "proxy:3128"),
    ]);
    assert_eq!(
        socks.describe(),
        "https:// via http://proxy:3128 (ALL_PROXY); http:// via http://proxy:3128 (ALL_PROXY); \
         HTTPS_PROXY=socks5://…@proxy:1080 ignored: not an http:// or https:// proxy URL"
    );
    let m = socks.matcher();
    let i = m.intercept(&"https://h/".parse().unwrap()).unwrap();
    assert_eq!(i.uri(), "http://proxy:3128/");
}

#[test]
fn no_proxy_takes_hosts_domains_cidrs_and_star() {
    let e = env(&[
        ("HTTPS_PROXY", "http://proxy:3128"),
        ("HTTP_PROXY", "http://proxy:3128"),
        (
            "NO_PROXY",
            "169.254.169.254, .internal,example.com ,10.0.0.0/8,::1",
        ),
    ]);
    let m = e.matcher();
    let proxied = |u: &str| m.intercept(&u.parse().unwrap()).is_some();
    for direct in [
        "http://169.254.169.254/latest/api/token",
        "https://hooks.internal/x",
        "https://internal/x",
        "https://example.com/x",
        "https://a.b.example.com:8443/x",
        "http://10.1.2.3:8080/x",
        "http://[::1]:80/x",
    ] {
        assert!(!proxied(direct), "{direct} should go direct");
    }
    for via in [
        "https://badexample.com/x",
        "https://example.com.evil/x",
        "http://11.0.0.1/x",
        "https://hooks.slack.com/services/x",
    ] {
        assert!(proxied(via), "{via} should go through the proxy");
    }
    assert!(
        e.describe().ends_with(
            "direct for NO_PROXY (169.254.169.254, .internal,example.com ,10.0.0.0/8,::1)"
        )
    );
    let star = env(&[("HTTPS_PROXY", "http://proxy:3128"), ("no_proxy", "*")]);
    assert!(
        star.matcher()
            .intercept(&"https://anything/".parse().unwrap())
            .is_none()
    );
}

#[test]
fn proxy_passwords_never_show() {
    let e = env(&[
        ("HTTPS_PROXY", "http://user:PROXYPASS@proxy.corp:3128/path"),
        ("http_proxy", "https://user%40corp:PROXYPASS@proxy.corp"),
        ("ALL_PROXY", "http://u:PROXYPASS@[bad"),
    ]);
    let text = format!("{} {e:?}", e.describe());
    assert!(!text.contains("PROXYPASS"), "{text}");
    assert!(
        text.contains("http://…@proxy.corp:3128 (HTTPS_PROXY)"),
        "{text}"
    );
    assert!(text.contains("https://…@proxy.corp (http_proxy)"), "{text}");
    assert!(
        text.contains("ALL_PROXY=(unparsable value) ignored"),
        "{text}"
    );
}
