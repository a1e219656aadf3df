// Package argocd runs understudy's Argo CD health checks and resource
// actions (config/argocd/resource_customizations) the way Argo CD does, and
// renders the kustomize component that installs them into argocd-cm. It is
// part of the test rig: nothing here ships.
package argocd

import (
	"context"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Argo CD (util/lua) runs a script in a fresh gopher-lua state with a one
// second deadline and the object as the global obj. Scripts from argocd-cm,
// and every action, get no standard library but package, base, table and a
// safe os (time, clock, difftime, date): built-in health checks alone get all
// of them. The scripts here are installed through argocd-cm, so they are run
// with the restricted set.

// Clock is what os.time returns: fixed in tests, so that an action's output
// can be compared with a file.
var Clock = func() time.Time { return time.Now() }

// Run runs script with obj as the global obj and returns what it returned.
func Run(script string, obj map[string]any) (any, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, fmt.Errorf("cannot open the %s library: %w", lib.name, err)
		}
	}
	l.PreloadModule(lua.OsLibName, openSafeOs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	ret := l.Get(-1)
	if ret.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	return fromLua(ret, obj), nil
}

// openSafeOs is the os library without anything that touches the machine.
func openSafeOs(l *lua.LState) int {
	mod := l.RegisterModule(lua.OsLibName, map[string]lua.LGFunction{
		"time": func(l *lua.LState) int { l.Push(lua.LNumber(Clock().Unix())); return 1 },
		"clock": func(l *lua.LState) int {
			l.Push(lua.LNumber(float64(time.Since(start)) / float64(time.Second)))
			return 1
		},
		"difftime": func(l *lua.LState) int { l.Push(lua.LNumber(l.CheckNumber(1) - l.CheckNumber(2))); return 1 },
	})
	l.Push(mod)
	return 1
}

var start = time.Now()

func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, e := range v {
			t.Append(toLua(l, e))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, e := range v {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	}
	return lua.LNil
}

// fromLua converts a Lua value back, as Argo CD's JSON round trip does: a
// table with keys 1..n is a list, an empty table a list unless the input
// had a map at the same place (Argo CD then keeps the input's value).
func fromLua(v lua.LValue, orig any) any {
	switch v := v.(type) {
	case lua.LBool:
		return bool(v)
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return float64(v)
	case *lua.LTable:
		n, keys := v.MaxN(), 0
		v.ForEach(func(lua.LValue, lua.LValue) { keys++ })
		if keys == 0 {
			if m, ok := orig.(map[string]any); ok {
				return m
			}
			return []any{}
		}
		if n == keys {
			origList, _ := orig.([]any)
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				var o any
				if i <= len(origList) {
					o = origList[i-1]
				}
				out = append(out, fromLua(v.RawGetInt(i), o))
			}
			return out
		}
		origMap, _ := orig.(map[string]any)
		out := map[string]any{}
		v.ForEach(func(k, e lua.LValue) { out[k.String()] = fromLua(e, origMap[k.String()]) })
		return out
	}
	return nil
}
