// placeholder until first build
