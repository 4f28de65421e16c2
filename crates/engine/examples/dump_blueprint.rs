fn main() {
    for p in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&p).unwrap();
        let stack = empi_engine::stack::Stack::parse(&p, &src).unwrap();
        let mut specs = empi_engine::blueprint::expand(&stack, "123456789012");
        specs.sort_by(|a, b| a.address.cmp(&b.address));
        println!("{}", serde_json::to_string_pretty(&specs).unwrap());
    }
}
